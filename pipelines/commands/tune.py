"""`bark-vocos tune`: fill this machine's tuning record ahead of time, so that no later process times a kernel.

Every engine picks its kernels by timing them the first time a shape is seen (`bark_vocos.choices`); the tuning record
(`bark_vocos.tuning`) keeps those choices for the machine. This command speaks a short sentence, a longer one and a
batch of long-form chunks with each engine, greedy, so that the shapes of ordinary use are measured once; `say`,
`batch`, `serve` and the notebooks then read the record and start without timing. Shapes it did not meet (another
batch size, a much longer text) are measured on first use and added to the record.
"""

from __future__ import annotations

import argparse
import time

from ..defaults import BATCH_SIZE
from .options import add_model_options

__all__ = ["TEXTS", "add_arguments", "run"]

# a short sentence, a sentence of one full chunk, and a paragraph spoken as a batch of long-form chunks
TEXTS = (
    "Hello there.",
    "The old lighthouse stood at the edge of the cliff, its light sweeping over the dark and restless sea.",
    "It was late when the train finally left the station. Nobody on the platform waved. The carriages were "
    "almost empty, and the few travellers who remained sat in silence. Outside, the fields went by under a low grey "
    "sky, and the rain began again.",
)
TUNED_ENGINES = ("exact", "fast")  # the engines with measured choices ("transformers" has none)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", nargs="+", choices=TUNED_ENGINES, default=list(TUNED_ENGINES),
                        help="the engines to tune (default: both)")  # fmt: skip
    add_model_options(parser)
    parser.add_argument("--threads", type=int, help="torch threads, as the processes that will read the record use")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="long-form batch size (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Speak `TEXTS` with each engine and write the record; print where it is and how many choices it holds."""
    from bark_vocos.settings import settings
    from bark_vocos.tuning import record_path, save_record

    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    settings()  # a bad BARK_VOCOS_* value fails here, before any model loads
    path = record_path()
    if path is None:
        raise ValueError(
            "nothing to tune into: the tuning record is off (--no-tuning-cache or BARK_VOCOS_TUNING_RECORD)"
        )
    import torch

    from bark_vocos.choices import CHOICES

    from ..speech.text_to_wav import TextToWavPipeline

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    for engine in dict.fromkeys(args.engine):
        pipe = TextToWavPipeline.from_pretrained(args.bark, args.vocoder, engine=engine)
        pipe.set_progress_bar_config(disable=args.no_progress)
        before, start = len(CHOICES.report()), time.perf_counter()
        for text in TEXTS:
            pipe(text, seed=0, do_sample=False, batch_size=args.batch_size, progress=not args.no_progress)
        measured = len(CHOICES.report()) - before
        print(f"{engine}: {measured} choices measured in {time.perf_counter() - start:.1f} s", flush=True)
    save_record()
    print(f"tuning record {path}: {len(CHOICES.report())} choices for {torch.get_num_threads()} threads")
    return 0
