"""Which precision autocast picks: bf16 on a CPU only where bf16 runs in hardware."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from model.device import autocast_dtype, native_bf16

SAPPHIRE_RAPIDS = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": True}
ICE_LAKE = {"avx2": True, "avx512_f": True, "avx512_bf16": False, "amx_bf16": False}
AVX2_ONLY = {"avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_bf16": False}


@pytest.mark.parametrize(("capability", "flags", "max_isa", "native"), [
    ("AVX512", SAPPHIRE_RAPIDS, None, True),
    ("AVX512", {**ICE_LAKE, "avx512_bf16": True}, None, True),  # Cooper Lake / Zen 4
    ("AVX512", ICE_LAKE, None, False),  # AVX512 without bf16: emulated
    ("AVX2", AVX2_ONLY, None, False),  # CI's machine
    ("AVX2", SAPPHIRE_RAPIDS, None, False),  # ATEN_CPU_CAPABILITY=avx2
    ("AVX512", SAPPHIRE_RAPIDS, "AVX2", False),  # ONEDNN_MAX_CPU_ISA=AVX2
    ("AVX512", SAPPHIRE_RAPIDS, "avx512_core_amx", True),
    ("DEFAULT", {}, None, False),
])
def test_bf16_only_where_the_cpu_has_it(capability: str, flags: dict[str, bool],
                                        max_isa: str | None, native: bool) -> None:
    assert native_bf16(capability, flags, max_isa) is native


def test_cuda_autocasts_to_bf16_where_it_has_it_and_amp_off_is_fp32() -> None:
    has_bf16 = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8
    expected = torch.bfloat16 if has_bf16 else torch.float16
    assert autocast_dtype(torch.device("cuda"), True) is expected
    assert autocast_dtype(torch.device("cpu"), False) is None
    assert autocast_dtype(torch.device("cuda"), False) is None


def test_an_avx2_capped_process_trains_in_fp32() -> None:
    """This machine's real answer under CI's emulation: fp32, not emulated bf16."""
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    code = "import torch; from model.device import autocast_dtype; " \
           "print(autocast_dtype(torch.device('cpu'), True))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "None"
