"""`bark-vocos bench vocoder`: our Vocos decoder vs the original Vocos code and transformers' EnCodec decoder.

Only the options live here, so `--help` and argument errors load nothing heavy; the work is in
`pipelines.benchmarks.vocoder`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..defaults import DEVICE

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--durations", type=float, nargs="+", default=[2.0, 10.0, 30.0], help="seconds of audio")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per decoder and duration (best is kept)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and codes")
    parser.add_argument("--tiny", action="store_true", help="tiny models instead of full size (smoke test only)")
    parser.add_argument("--device", default=DEVICE, help="where all three run: cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (see `pipelines.benchmarks.vocoder.run`)."""
    from ..speech.checks import check_threads_option

    check_threads_option(args.threads)  # before torch: a million OpenMP threads crash it
    from ..benchmarks.vocoder import run as run_benchmark

    return run_benchmark(args)
