"""The machine line printed beside every benchmark figure."""

import pytest
import torch

from bark_vocos.kernels import linear_kernel_names
from pipelines import machine
from pipelines.machine import ISA_VARIABLES, describe_machine, set_threads


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


def test_set_threads_rejects_fewer_than_one():
    before = torch.get_num_threads()
    set_threads(None)
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="--threads must be >= 1"):
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

    monkeypatch.setattr(machine, "_best_seconds", fake_best_seconds)
    monkeypatch.setattr(machine, "linear_kernel", recording_kernel)
    flops = machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1)
    names = linear_kernel_names()
    assert entered == list(names)
    assert flops == pytest.approx(2 * 8 * 16 * 32 / min([0.5, 0.25, 0.75][: len(names)]))


def test_machine_rates_on_the_cpu_are_float32_and_positive():
    assert machine.measure_read_bandwidth(megabytes=8, repeats=1) > 0
    assert machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1) > 0
    with pytest.raises(ValueError, match="measured in float32"):
        machine.measure_matmul_flops(rows=8, inner=16, columns=32, repeats=1, dtype=torch.float16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")
def test_machine_rates_on_a_gpu_in_half_precision():
    assert machine.measure_read_bandwidth(megabytes=64, repeats=2, device="cuda") > 0
    assert machine.measure_matmul_flops(repeats=2, device="cuda", dtype=torch.float16) > 0
