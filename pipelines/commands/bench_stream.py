"""`bark-vocos bench stream`: time to first audio and total time of `pipe.stream` against `pipe(...)`, one run.

Only the options live here, so `--help` and argument errors load nothing heavy; the work is in
`pipelines.benchmarks.stream`.
"""

from __future__ import annotations

import argparse

from ..defaults import ENGINE, ENGINES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `bench stream` options."""
    parser.add_argument(
        "--engine", default=ENGINE, choices=ENGINES, help="how Bark's stages run (default: %(default)s)"
    )
    parser.add_argument(
        "--first-chunk-tokens", type=int, default=8, help="the stream's first chunk budget (default: %(default)s)"
    )
    parser.add_argument(
        "--semantic-per-token",
        type=float,
        default=14.0,
        help="simulated speech length: semantic tokens per text token (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="stream/one-call pairs, interleaved (default: 1)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="a tiny model and short windows: a smoke run")
    parser.add_argument("--seed", type=int, default=0, help="weights and generation seed (default: %(default)s)")
    parser.add_argument("--out", help="also write the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (see `pipelines.benchmarks.stream.run`)."""
    from ..benchmarks.stream import run as run_benchmark

    return run_benchmark(args)
