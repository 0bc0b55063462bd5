"""The local batch runner: one process on this machine, the rows one after another, in job order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .generate import BatchSettings, RowGenerator
from .manifest import RowTask

__all__ = ["iter_local"]


def iter_local(tasks: list[RowTask], out_dir: str | os.PathLike, settings: BatchSettings) -> Iterator[dict[str, Any]]:
    """Load the pipeline once and yield each row's manifest entry as soon as its file is written.

    Args:
        tasks: The rows to generate.
        out_dir: Existing output folder.
        settings: Models, device and generation options.

    Yields:
        One manifest entry per row (see `RowGenerator.__call__`), in the order of `tasks`.
    """
    if not tasks:
        return
    import torch

    threads = torch.get_num_threads()
    try:
        generate = RowGenerator(settings, out_dir)  # sets torch's threads for this process to settings.threads
        for task in tasks:
            yield generate(task)
    finally:
        torch.set_num_threads(threads)
