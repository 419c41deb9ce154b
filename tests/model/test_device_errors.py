"""``--device cuda`` without a usable GPU: one line saying what torch needs and what to do."""

from __future__ import annotations

import pytest
import torch

from classpulse.errors import UsageError
from model.device import driver_cuda_version, no_gpu_message, pick_device

HEAD = "device cuda requested but no CUDA GPU is visible"
GUIDE = 'README.md "GPUs and drivers"'


@pytest.mark.parametrize(("torch_cuda", "driver_cuda", "expected"), [
    ("13.0", 12020, f"{HEAD}: torch 2.14.1+cu130 is built for CUDA 13.0 but the NVIDIA driver "
                    "here runs CUDA 12.2 at most; update the driver to 580 or newer, or install a "
                    f"torch built for CUDA 12 (TORCH_SPEC, {GUIDE}), or use --device cpu"),
    ("13.0", None, f"{HEAD} (torch 2.14.1+cu130 is built for CUDA 13.0; no NVIDIA driver found); "
                   "install the NVIDIA driver (in a container, give it the GPU through the NVIDIA "
                   "Container Toolkit) or use --device cpu"),
    ("13.0", 13010, f"{HEAD} (torch 2.14.1+cu130 is built for CUDA 13.0, the driver runs CUDA "
                    "13.1); check `nvidia-smi` and CUDA_VISIBLE_DEVICES, or use --device cpu"),
    (None, None, f"{HEAD}: torch 2.14.1+cu130 is built without CUDA; install a CUDA build "
                 f"(TORCH_SPEC, {GUIDE}) or use --device cpu"),
])
def test_the_message_names_torchs_cuda_and_the_driver_that_is_too_old(
    torch_cuda: str | None, driver_cuda: int | None, expected: str
) -> None:
    assert no_gpu_message("2.14.1+cu130", torch_cuda, driver_cuda) == expected


def test_cuda_on_a_machine_without_a_gpu_fails_in_one_line_naming_torchs_cuda() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    with pytest.raises(UsageError) as refused:
        pick_device("cuda")
    message = str(refused.value)
    assert message == no_gpu_message(torch.__version__, torch.version.cuda, driver_cuda_version())
    assert message.startswith(HEAD) and "\n" not in message
    cuda = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
    assert cuda in message
