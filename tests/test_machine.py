"""The machine line printed beside every benchmark figure."""

import platform
import subprocess
import sys

import pytest
import torch

from bark_vocos.kernels import linear_kernel_names
from pipelines import machine
from pipelines.benchmarks.machine import ISA_VARIABLES, describe_machine, set_threads


def test_machine_line_names_cpu_isa_and_threads(monkeypatch):
    for name in ISA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    line = describe_machine()
    assert line.startswith("cpu: ")
    assert f"torch ISA {torch.backends.cpu.get_cpu_capability()}" in line
    assert f"{torch.get_num_threads()} torch threads" in line
    assert "not held" not in line


def test_machine_line_shows_isa_limits_and_what_they_do_not_hold(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    line = describe_machine()
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in line
    assert "not held: ONNX Runtime's kernels, chosen by CPUID" in line


def test_machine_line_names_the_isa_limits_left_unset(monkeypatch):
    """Held to AVX2 with torch's three variables alone, fbgemm (the fast engine's int8 products) keeps its AVX-512
    kernels: the line says which limit is not set."""
    for name in ISA_VARIABLES:
        monkeypatch.setenv(name, "AVX2")
    assert "not set" not in describe_machine()
    monkeypatch.delenv("FBGEMM_ENABLE_INSTRUCTIONS")
    assert "not set: FBGEMM_ENABLE_INSTRUCTIONS" in describe_machine()


def test_set_threads_rejects_fewer_than_one():
    before = torch.get_num_threads()
    set_threads(None)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="--threads 0 is out of range: use 1 to"):
        set_threads(0)


def test_matmul_rate_is_that_of_the_fastest_float32_kernel(monkeypatch):
    """The roofline's compute floor uses the best of our float32 linear kernels (MKL alone stays on AVX2 on AMD CPUs
    with AVX-512): each kernel is timed, and the rate is the product's FLOPs over the fastest time."""
    times = iter([0.5, 0.25, 0.75])

    def fake_best_seconds(run, repeats, device):
        assert device.type == "cpu"
        run()  # the product runs under the kernel being timed
        return next(times)

    entered = []
    real_kernel = machine.linear_kernel

    def recording_kernel(name):
        entered.append(name)
        return real_kernel(name)

    monkeypatch.setattr(machine, "best_seconds", fake_best_seconds)
    monkeypatch.setattr(machine, "linear_kernel", recording_kernel)
    flops = machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1)
    names = linear_kernel_names()
    assert entered == list(names)
    assert flops == pytest.approx(2 * 8 * 16 * 32 / min([0.5, 0.25, 0.75][: len(names)]))


def test_int8_rate_is_that_of_the_fastest_int8_kernel(monkeypatch):
    """The fast engine's compute floor uses the best of its int8 kernels, each timed under `int8_kernel`."""
    times = iter([0.5, 0.25])
    entered = []
    real_kernel = machine.int8_kernel

    def recording_kernel(name):
        entered.append(name)
        return real_kernel(name)

    def fake_best_seconds(run, repeats, device):
        run()
        return next(times)

    monkeypatch.setattr(machine, "best_seconds", fake_best_seconds)
    monkeypatch.setattr(machine, "int8_kernel", recording_kernel)
    ops = machine.measure_int8_matmul_ops(rows=8, inner=16, columns=32, repeats=1)
    names = machine.int8_kernels_available()
    assert entered == names
    assert ops == pytest.approx(2 * 8 * 16 * 32 / min([0.5, 0.25][: len(names)]))


def test_machine_rates_on_the_cpu_are_positive():
    assert machine.measure_read_bandwidth(megabytes=8, repeats=1) > 0
    assert machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1) > 0
    assert machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1, dtype=torch.bfloat16) > 0
    assert machine.measure_int8_matmul_ops(rows=8, inner=16, columns=32, repeats=1) > 0
    with pytest.raises(ValueError, match="measured in float32"):
        machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1, dtype=torch.float16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")
def test_machine_rates_on_a_gpu_in_half_precision():
    assert machine.measure_read_bandwidth(megabytes=64, repeats=2, device="cuda") > 0
    assert machine.measure_matmul_flops(repeats=2, device="cuda", dtype=torch.float16) > 0


_FAULTS_SCRIPT = """
import resource, sys, torch
from pipelines.benchmarks.machine import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
faults = []
for _ in range(48):  # a 64 MiB tensor made, written and freed, with a small tensor made between, as in a model
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(16 * 2**20).fill_(1.0)
    small = torch.randn(1000)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(applied, sum(faults[32:]))
"""

_TENSOR_PAGES = 16 * 2**20 * 4 // 4096


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="keep_freed_memory sets glibc's malloc")
def test_keep_freed_memory_reuses_freed_memory_without_page_faults():
    """A 64 MiB tensor made 48 times: glibc maps each anew, above its largest mmap threshold, and faults in each of
    its 16,384 pages of 4 KiB. After `keep_freed_memory` the heap grows only while the tensor, 64-byte aligned, does
    not yet fit in the room freed between the small blocks placed after it (the first rounds), then reuses it: the
    last 16 rounds fault in less than one tensor's pages in all, where by default each faults in a whole tensor's.
    Each case in a fresh process, so that the setting does not outlive the test."""

    def late_faults(case: str) -> tuple[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", _FAULTS_SCRIPT, case], capture_output=True, text=True, check=True, timeout=120
        )
        applied, count = done.stdout.split()
        return applied, int(count)

    applied, kept = late_faults("keep")
    assert applied == "True"
    assert kept < _TENSOR_PAGES
    assert late_faults("default")[1] > 16 * _TENSOR_PAGES // 2  # half the pages: transparent huge pages may serve some


def test_commands_keep_freed_memory(monkeypatch, tmp_path):
    """Every `bark-vocos` command runs with `keep_freed_memory` applied, before the command's own work (here an
    `inspect` of an empty folder, which fails as a user error); parsing alone (`--help`) does not apply it."""
    import pipelines.commands as commands

    calls = []
    monkeypatch.setattr(commands, "keep_freed_memory", lambda: calls.append("kept"))
    with pytest.raises(SystemExit):
        commands.main(["--help"])
    assert calls == []
    assert commands.main(["inspect", str(tmp_path)]) == 1
    assert calls == ["kept"]
