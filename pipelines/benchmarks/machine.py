"""The machine a run is on: what a benchmark figure was measured on (the CPU model, the instruction set torch uses,
the thread count), its measured read and product rates, and the process-wide settings our commands run with."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import torch
from torch import nn

from bark_vocos.bark.int8 import Int8Linear, int8_kernel, int8_kernels_available
from bark_vocos.choices import ISA_VARIABLES, cpu_model
from bark_vocos.kernels import linear, linear_kernel, linear_kernel_names

from ..speech.checks import check_threads_option
from ..speech.memory import keep_freed_memory

__all__ = [
    "bench_metadata",
    "best_seconds",
    "describe_machine",
    "keep_freed_memory",
    "measure_int8_matmul_ops",
    "measure_matmul_flops",
    "measure_read_bandwidth",
    "set_threads",
    "synchronizer",
    "timed_seconds",
]


def describe_machine() -> str:
    """One line: CPU model, torch's CPU capability (its ISA), any ISA limits set in the environment, threads.

    The limits hold torch, oneDNN, MKL and fbgemm, each only when its own variable is set (`ISA_VARIABLES`); ONNX
    Runtime (the decode-step engine where it measures faster) picks its kernels from CPUID and has no such setting.
    When any limit is set, the line names what is not held.
    """
    limits = [f"{name}={os.environ[name]}" for name in ISA_VARIABLES if name in os.environ]
    if limits:
        free = [name for name in ISA_VARIABLES if name not in os.environ]
        if free:
            limits.append(f"not set: {', '.join(free)}")
        limits.append("not held: ONNX Runtime's kernels, chosen by CPUID")
    isa = torch.backends.cpu.get_cpu_capability()
    line = f"cpu: {cpu_model()}, torch ISA {isa}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name()}"
    return line + (f" ({', '.join(limits)})" if limits else "")


def _commit() -> str | None:
    """The checked-out commit of the repository this package runs from (with "+dirty" for uncommitted changes), or
    None outside a git checkout."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def bench_metadata() -> dict[str, object]:
    """What a benchmark's JSON names about its run: the CPU model, torch's ISA and any ISA limits, the thread count,
    the versions of torch / ONNX Runtime / transformers, the date (UTC) and the commit.

    The speed tables of the docs are made from these files (`make bench-tables`, from `docs/benchmarks/*.json`), so
    a figure always says where and with which code it was measured.
    """
    import datetime
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "onnxruntime", "transformers"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu_model(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "isa_limits": {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ},
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "commit": _commit(),
        "line": describe_machine(),
    }


def set_threads(threads: int | None) -> None:
    """Use `threads` torch threads (a benchmark's `--threads`); `None` keeps torch's choice.

    Raises:
        ValueError: Fewer than one thread, or more than the CPUs this process may use.
    """
    if threads is None:
        return
    check_threads_option(threads)
    torch.set_num_threads(threads)


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for `device`'s queued work (`torch.cuda.synchronize` on a CUDA device, else nothing), for
    timers: a GPU's kernels run after the call that queued them returns."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def timed_seconds(run: Callable[[], object], sync: Callable[[], None]) -> float:
    """Seconds one call of `run` takes, its queued device work waited for with `sync` (see `synchronizer`)."""
    start = time.perf_counter()
    run()
    sync()
    return time.perf_counter() - start


def best_seconds(run: Callable[[], object], repeats: int, device: torch.device) -> float:
    """The fastest of `repeats` runs of `run` (after one warm-up), each waited for on a CUDA `device`: interference
    only ever slows a run."""
    sync = synchronizer(device)
    timed_seconds(run, sync)  # warm-up
    return min(timed_seconds(run, sync) for _ in range(repeats))


def measure_read_bandwidth(megabytes: int = 512, repeats: int = 5, device: str | torch.device = "cpu") -> float:
    """Bytes per second this process reads from `device`'s memory: a sum over a float32 array far larger than the
    caches."""
    device = torch.device(device)
    data = torch.ones(megabytes * 2**20 // 4, device=device)
    return data.numel() * 4 / best_seconds(data.sum, repeats, device)


def measure_matmul_flops(
    rows: int = 1024,
    inner: int = 768,
    columns: int = 3072,
    repeats: int = 5,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> float:
    """FLOP/s of a linear layer of Bark-small's MLP shape (768 -> 3072) over `rows` positions: on the CPU in float32,
    with the fastest of the float32 kernels our layers choose from (`bark_vocos.kernels.linear_kernel_names`), or in
    bfloat16 with torch's linear (the fast engine's attention may run in it); on a CUDA `device`, torch's linear in
    `dtype`.

    Not `a @ b` alone: that is MKL, which on AMD CPUs runs its AVX2 code even where the CPU has AVX-512, while oneDNN
    uses AVX-512 there, so a floor from MKL alone would sit under what our compute-bound stages reach.
    """
    device = torch.device(device)
    if device.type == "cpu" and dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"on the CPU the matrix-product rate is measured in float32 or bfloat16, not {dtype}")
    layer = nn.Linear(inner, columns).to(device=device, dtype=dtype)
    inputs = torch.randn(rows, inner, device=device, dtype=dtype)
    with torch.inference_mode():
        if device.type == "cuda" or dtype != torch.float32:
            best = best_seconds(lambda: layer(inputs), repeats, device)
        else:
            run = functools.partial(linear, inputs, layer, prepack=True)
            best = _fastest_kernel_seconds(run, linear_kernel_names(), linear_kernel, repeats)
    return 2 * rows * inner * columns / best


def _fastest_kernel_seconds(
    run: Callable[[], object],
    names: Iterable[str],
    kernel: Callable[[str], AbstractContextManager[None]],
    repeats: int,
) -> float:
    """The fastest time of `run` on the CPU over each kernel of `names`, each forced by `kernel(name)` (`best_seconds`
    per kernel)."""
    best = float("inf")
    for name in names:
        with kernel(name):
            best = min(best, best_seconds(run, repeats, torch.device("cpu")))
    return best


def measure_int8_matmul_ops(rows: int = 1024, inner: int = 768, columns: int = 3072, repeats: int = 5) -> float:
    """Operations per second (2 per multiply-add, as FLOPs count them) of the fast engine's int8 linear layer
    (`bark_vocos.bark.int8.Int8Linear`, activations rounded per call) at Bark-small's MLP shape over `rows` positions,
    on the CPU, with the fastest of its kernels: the compute floor of the fast engine's products, which a float32 rate
    would put too high (int8 products run several times faster than float32 ones).
    """
    layer = Int8Linear(nn.Linear(inner, columns))
    inputs = torch.randn(rows, inner)
    with torch.inference_mode():
        best = _fastest_kernel_seconds(functools.partial(layer, inputs), int8_kernels_available(), int8_kernel, repeats)
    return 2 * rows * inner * columns / best
