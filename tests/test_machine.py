"""The machine line printed beside every benchmark figure."""

import pytest
import torch

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
