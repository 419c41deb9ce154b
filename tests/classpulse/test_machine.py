"""One description of the machine for every benchmark (model, pipeline and dashboard each read it
once themselves), each printing its own line as before."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from classpulse.machine import Machine, TorchInfo, describe_machine

ROOT = Path(__file__).resolve().parents[2]


def test_without_torch_it_reads_the_standard_library_only() -> None:
    code = ("import sys\nfrom classpulse.machine import describe_machine\n"
            "m = describe_machine(with_torch=False)\n"
            "print(m.torch, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["None", "False"]


def test_the_facts_are_the_ones_the_benchmarks_printed() -> None:
    import torch

    machine = describe_machine()
    assert machine.arch == (platform.processor() or platform.machine())
    assert machine.logical_cores == os.cpu_count()
    assert machine.python == f"{platform.python_implementation()} {platform.python_version()}"
    info = machine.torch_info()
    assert (info.version, info.threads, info.cuda) == (
        torch.__version__, torch.get_num_threads(), torch.cuda.is_available())
    assert (info.gpu is None) == (not info.cuda)
    with pytest.raises(ValueError, match="with_torch=True"):
        describe_machine(with_torch=False).torch_info()


def test_bench_model_line() -> None:
    cpu = Machine(cpu="AMD EPYC 7B13", arch="x86_64", logical_cores=2, python="CPython 3.11.2",
                  torch=TorchInfo(version="2.5.1", threads=2, cuda=False, gpu=None))
    assert cpu.text() == "CPU: AMD EPYC 7B13, 2 logical cores, torch 2.5.1 (2 threads)"
    gpu = Machine(cpu="x86_64", arch="x86_64", logical_cores=16, python="CPython 3.11.2",
                  torch=TorchInfo(version="2.5.1", threads=16, cuda=True, gpu="NVIDIA H100"))
    assert gpu.text() == ("CPU: x86_64, 16 logical cores, torch 2.5.1 (16 threads); "
                          "GPU: NVIDIA H100")
