"""Choosing the torch device and the autocast precision that suits it."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Mapping

import torch

from classpulse.errors import UsageError

# the oldest NVIDIA driver branch that runs each CUDA major version's builds (NVIDIA's "minor
# version compatibility": any 13.x needs 580 or newer, any 12.x 525 or newer)
MIN_DRIVER = {11: 450, 12: 525, 13: 580}
_LIBCUDA = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when a GPU is visible, else the CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(no_gpu_message(torch.__version__, torch.version.cuda,
                                        driver_cuda_version()))
    if name not in ("cpu", "cuda"):
        raise UsageError(f"device {name!r} is not one of auto, cpu, cuda")
    return torch.device(name)


def driver_cuda_version() -> int | None:
    """The newest CUDA the installed NVIDIA driver runs (``cuDriverGetVersion``: 12020 for 12.2),
    or None when no driver library loads (no driver, or a container not given the GPU).

    Asks the driver library alone, which answers without a GPU and without initialising CUDA:
    cheap enough for an error message.
    """
    for name in _LIBCUDA:
        try:
            library = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        if library.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
            return version.value
        return None
    return None


def no_gpu_message(torch_version: str, torch_cuda: str | None, driver_cuda: int | None) -> str:
    """One line for ``--device cuda`` without a usable GPU: what this torch needs, what the driver
    offers (``driver_cuda`` as :func:`driver_cuda_version` gives it) and what to do.

    A driver older than the CUDA this torch is built for is the likeliest cause after an upgrade
    of torch (torch then sees no GPU at all), and the one ``nvidia-smi`` does not point out.
    """
    head = "device cuda requested but no CUDA GPU is visible"
    if torch_cuda is None:
        return (f"{head}: torch {torch_version} is built without CUDA; install a CUDA build "
                "(TORCH_SPEC, README.md \"GPUs and drivers\") or use --device cpu")
    if driver_cuda is None:
        return (f"{head} (torch {torch_version} is built for CUDA {torch_cuda}; no NVIDIA driver "
                "found); install the NVIDIA driver (in a container, give it the GPU through the "
                "NVIDIA Container Toolkit) or use --device cpu")
    major = int(torch_cuda.split(".")[0])
    driver = f"{driver_cuda // 1000}.{driver_cuda % 1000 // 10}"
    if driver_cuda // 1000 < major:
        needed = MIN_DRIVER.get(major)
        update = f"to {needed} or newer" if needed else f"to one for CUDA {major}"
        return (f"{head}: torch {torch_version} is built for CUDA {torch_cuda} but the NVIDIA "
                f"driver here runs CUDA {driver} at most; update the driver {update}, or install "
                f"a torch built for CUDA {driver_cuda // 1000} (TORCH_SPEC, README.md \"GPUs and "
                "drivers\"), or use --device cpu")
    return (f"{head} (torch {torch_version} is built for CUDA {torch_cuda}, the driver runs CUDA "
            f"{driver}); check `nvidia-smi` and CUDA_VISIBLE_DEVICES, or use --device cpu")


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which its bf16 kernels still run natively
_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX10", "ALL",
              "DEFAULT")


def native_bf16(capability: str, flags: Mapping[str, bool], max_isa: str | None) -> bool:
    """Whether bf16 arithmetic runs in hardware: the decision behind ``cpu_has_native_bf16``.

    ``capability`` is ATen's kernel level (``torch.backends.cpu.get_cpu_capability()``),
    ``flags`` the CPU's features (``torch.cpu.get_capabilities()``), ``max_isa`` the
    ``ONEDNN_MAX_CPU_ISA`` cap if any. Native means AVX512-BF16 or AMX-BF16 in the chip, and
    neither ATen nor oneDNN capped below it (a cap is how CI's plain AVX2 machine is emulated).
    """
    in_chip = bool(flags.get("avx512_bf16") or flags.get("amx_bf16"))
    aten_ok = capability.upper().startswith("AVX512")
    onednn_ok = max_isa is None or max_isa.strip().upper().startswith(_BF16_ISAS)
    return in_chip and aten_ok and onednn_ok


def cpu_has_native_bf16() -> bool:
    """This process's answer to ``native_bf16``.

    Why it matters: without native bf16, autocast emulates every bf16 op in software; CI's AVX2
    machine then trained at 25 s per batch of 24 instead of ~0.3 s in fp32.
    """
    getter = getattr(torch.cpu, "get_capabilities", None)
    flags: Mapping[str, bool] = getter() if getter is not None else {
        "avx512_bf16": torch.cpu._is_avx512_bf16_supported(),
        "amx_bf16": torch.cpu._is_amx_tile_supported(),
    }
    # oneDNN's own variable, read where oneDNN reads it, not a ClassPulse setting (DEVELOPERS.md,
    # "Settings", says why it is not in classpulse.settings)
    return native_bf16(torch.backends.cpu.get_cpu_capability(), flags,
                       os.environ.get("ONEDNN_MAX_CPU_ISA"))


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """The autocast precision for ``device``, or ``None`` for plain fp32.

    On CUDA bf16 where the GPU has it (compute capability 8+, Ampere and later: fp32's range, no
    grad scaling), else fp16; bf16 on a CPU with native bf16 (2x faster than fp32 for training
    on AVX512-BF16, measured), else fp32: emulated bf16 is many times slower than fp32.
    """
    if not enabled:
        return None
    if device.type == "cuda":
        native = torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
        return torch.bfloat16 if native else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else None


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Autocast in ``autocast_dtype``'s precision, or a no-op where that is fp32."""
    dtype = autocast_dtype(device, enabled)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
