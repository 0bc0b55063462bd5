"""What a benchmark figure was measured on: the CPU model, the instruction set torch uses, the thread count."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

from bark_vocos.kernels import linear, linear_kernel, linear_kernel_names

__all__ = ["describe_machine", "measure_matmul_flops", "measure_read_bandwidth", "set_threads", "synchronizer"]

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
    """One line: CPU model, torch's CPU capability (its ISA), any ISA limits set in the environment, threads.

    The limits hold torch, oneDNN and MKL only: ONNX Runtime (the decode-step engine where it measures faster) picks
    its kernels from CPUID and has no such setting, so the line says so when limits are set.
    """
    limits = [f"{name}={os.environ[name]}" for name in ISA_VARIABLES if name in os.environ]
    if limits:
        limits.append("not held: ONNX Runtime's kernels, chosen by CPUID")
    isa = torch.backends.cpu.get_cpu_capability()
    line = f"cpu: {_cpu_model()}, torch ISA {isa}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name()}"
    return line + (f" ({', '.join(limits)})" if limits else "")


def set_threads(threads: int | None) -> None:
    """Use `threads` torch threads (a benchmark's `--threads`); `None` keeps torch's choice.

    Raises:
        ValueError: Fewer than one thread.
    """
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for `device`'s queued work (`torch.cuda.synchronize` on a CUDA device, else nothing), for
    timers: a GPU's kernels run after the call that queued them returns."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def _best_seconds(run, repeats: int, device: torch.device) -> float:
    """The fastest of `repeats` runs of `run` (after one warm-up), each waited for on a CUDA `device`."""
    sync = synchronizer(device)

    def timed() -> float:
        start = time.perf_counter()
        run()
        sync()
        return time.perf_counter() - start

    timed()  # warm-up
    return min(timed() for _ in range(repeats))


def measure_read_bandwidth(megabytes: int = 512, repeats: int = 5, device: str | torch.device = "cpu") -> float:
    """Bytes per second this process reads from `device`'s memory: a sum over a float32 array far larger than the
    caches."""
    device = torch.device(device)
    data = torch.ones(megabytes * 2**20 // 4, device=device)
    return data.numel() * 4 / _best_seconds(data.sum, repeats, device)


def measure_matmul_flops(
    rows: int = 1024,
    inner: int = 768,
    columns: int = 3072,
    repeats: int = 5,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> float:
    """FLOP/s of a linear layer of Bark-small's MLP shape (768 -> 3072) over `rows` positions: on the CPU in float32,
    with the fastest of the float32 kernels our layers choose from (`bark_vocos.kernels.linear_kernel_names`); on a
    CUDA `device`, torch's linear in `dtype`.

    Not `a @ b` alone: that is MKL, which on AMD CPUs runs its AVX2 code even where the CPU has AVX-512, while oneDNN
    uses AVX-512 there (AMD EPYC Zen 5, 2 threads, this shape: MKL 199 GFLOP/s, oneDNN 444-461 GFLOP/s; held to AVX2,
    199 and 234), so a floor from MKL alone sat under what our compute-bound stages reach (the exact fine stage ran
    at 0.7x such a floor).
    """
    device = torch.device(device)
    if device.type == "cpu" and dtype != torch.float32:
        raise ValueError(f"on the CPU the matrix-product rate is measured in float32, not {dtype}")
    layer = nn.Linear(inner, columns).to(device=device, dtype=dtype)
    inputs = torch.randn(rows, inner, device=device, dtype=dtype)
    with torch.inference_mode():
        if device.type == "cuda":
            best = _best_seconds(lambda: layer(inputs), repeats, device)
        else:
            best = float("inf")
            for name in linear_kernel_names():
                with linear_kernel(name):
                    best = min(best, _best_seconds(lambda: linear(inputs, layer, prepack=True), repeats, device))
    return 2 * rows * inner * columns / best
