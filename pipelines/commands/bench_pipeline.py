"""`bark-vocos bench pipeline`: transformers' Bark + EnCodec against our stages + Vocos, per stage and end to end.

Only the options live here, so `--help` and argument errors load nothing heavy; the work is in
`pipelines.benchmarks.pipeline`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bark_vocos.bark.names import OPTIMIZED_MODES

from ..defaults import DEVICE

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bark-vocos bench pipeline`."""
    parser.add_argument("--semantic-tokens", type=int, default=250, help="semantic tokens generated (forced length)")
    parser.add_argument(
        "--modes", nargs="+", choices=OPTIMIZED_MODES, default=list(OPTIMIZED_MODES), help="our modes to time"
    )
    parser.add_argument("--long-form-sentences", type=int, default=8, help="sentences in the long-form test (0: skip)")
    parser.add_argument("--long-form-tokens", type=int, default=100, help="semantic tokens per long-form sentence")
    parser.add_argument(
        "--long-form-mode", choices=OPTIMIZED_MODES, default="fast", help="our mode in the long-form test"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="interleaved rounds of reference and our modes (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny random model: a smoke run of the code path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's); 1 is steadiest on a busy machine"
    )
    parser.add_argument(
        "--device", default=DEVICE, help="where the reference and our engines run: cpu, cuda or cuda:N (default: cpu)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float16", "bfloat16"),
        default="float32",
        help="the models' dtype; half precision on a GPU only, the CPU engines run float32 (default: float32)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark (see `pipelines.benchmarks.pipeline.run`)."""
    from ..benchmarks.pipeline import run as run_benchmark

    return run_benchmark(args)
