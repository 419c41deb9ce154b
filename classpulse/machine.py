"""The machine a benchmark ran on, read in one place for every ``classpulse bench``.

Each benchmark prints its own line from it (``bench model`` :meth:`Machine.text`; ``bench
pipeline`` and ``bench dashboard`` their own), so numbers in docs/benchmarks.md keep naming their
machine as they did. torch is imported only when asked for (``with_torch``): ``classpulse`` and
``bench dashboard`` load without it, and the model package may use this module without pulling
in anything but the standard library.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TorchInfo:
    version: str
    threads: int  # torch.get_num_threads(): the CPU threads an operation may use
    cuda: bool  # torch.cuda.is_available()
    gpu: str | None  # the first CUDA device's name; None without CUDA


@dataclass(frozen=True)
class Machine:
    cpu: str  # /proc/cpuinfo's model name where there is one, else ``arch``
    arch: str  # platform.processor() or, where that says nothing, platform.machine()
    logical_cores: int | None  # os.cpu_count()
    python: str  # implementation and version, e.g. "CPython 3.11.2"
    torch: TorchInfo | None  # None unless asked for

    def torch_info(self) -> TorchInfo:
        """What torch says; a ValueError where describe_machine(with_torch=False) read none."""
        if self.torch is None:
            raise ValueError("torch was not read: describe_machine(with_torch=True) reads it")
        return self.torch

    def text(self) -> str:
        """One line: CPU, cores, torch and its threads, and the GPU where CUDA has one."""
        torch = self.torch_info()
        text = (f"CPU: {self.cpu}, {self.logical_cores} logical cores, torch {torch.version} "
                f"({torch.threads} threads)")
        if torch.gpu is not None:
            text += f"; GPU: {torch.gpu}"
        return text


def describe_machine(*, with_torch: bool = True) -> Machine:
    """This machine as the benchmarks name it; torch (imported here) only with ``with_torch``."""
    arch = platform.processor() or platform.machine()
    cpu = arch
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return Machine(cpu=cpu, arch=arch, logical_cores=os.cpu_count(),
                   python=f"{platform.python_implementation()} {platform.python_version()}",
                   torch=_torch_info() if with_torch else None)


def _torch_info() -> TorchInfo:
    import torch

    cuda = torch.cuda.is_available()
    return TorchInfo(version=torch.__version__, threads=torch.get_num_threads(), cuda=cuda,
                     gpu=torch.cuda.get_device_name(0) if cuda else None)
