"""What a benchmark figure was measured on: the CPU model, the instruction set torch uses, the thread count."""

from __future__ import annotations

import os
import platform

import torch

__all__ = ["describe_machine"]

ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """One line: CPU model, torch's CPU capability (its ISA), any ISA limits set in the environment, threads."""
    limits = [f"{name}={os.environ[name]}" for name in ISA_VARIABLES if name in os.environ]
    isa = torch.backends.cpu.get_cpu_capability()
    line = f"cpu: {_cpu_model()}, torch ISA {isa}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name()}"
    return line + (f" ({', '.join(limits)})" if limits else "")
