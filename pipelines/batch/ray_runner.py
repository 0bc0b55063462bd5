"""The Ray batch runner: Ray Data streams the rows through an actor pool (each actor loads the pipeline once and
writes its rows' files); the driver receives the manifest entries as they finish."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from bark_vocos.settings import settings as engine_settings

from ..benchmarks.machine import keep_freed_memory
from .generate import BatchSettings, RowGenerator, model_location
from .manifest import RowTask

__all__ = ["RayRowGenerator", "iter_ray", "require_ray", "worker_runtime_env"]

# Ray Data makes one block per row up to this many rows, so that entries (and the progress bar) come back row by row
# and rows of very different lengths spread evenly over the actors; past it, blocks hold several rows.
MAX_BLOCKS = 4096


def worker_runtime_env() -> dict[str, Any]:
    """The `runtime_env` of our Ray workers: the driver's engine settings (`bark_vocos.settings`: kernel pins and draft
    count, which change what a worker computes or how fast), as the variables that pin them; a worker, local or on a
    cluster, whose environment is not the driver's, reads them when it starts."""
    return {"env_vars": engine_settings().environ()}


def require_ray():
    """Import Ray (with Ray Data), or explain how to install it.

    Raises:
        ValueError: Ray is not installed.
    """
    try:
        import ray
        import ray.data  # Ray Data comes with the `data` extra of ray
    except ImportError as error:
        raise ValueError(
            f"--runner ray needs Ray Data ({error}): pip install 'bark-vocos[ray]' (or 'ray[data]')"
        ) from None
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its info lines and notes would break our progress bar
    return ray


class RayRowGenerator:
    """The callable class of `map_batches`: each actor builds one `RowGenerator` (loads the pipeline once) and
    generates the rows of each batch it is given, writing their files from the worker."""

    def __init__(self, settings: dict[str, Any], out_dir: str) -> None:
        keep_freed_memory()  # the actor's process is ours, as the command's is
        self.generate = RowGenerator(BatchSettings(**settings), out_dir)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`batch["task"]`: `RowTask`s as JSON -> `{"entry": their manifest entries as JSON}`.

        Rows travel as JSON strings, not as typed columns: Arrow and numpy would turn a missing voice into NaN.
        """
        entries = [json.dumps(self.generate(RowTask(**json.loads(task)))) for task in batch["task"]]
        return {"entry": np.array(entries, dtype=object)}


def _worker_settings(ray, settings: BatchSettings) -> tuple[BatchSettings, dict[str, float]]:
    """What each actor loads (local model folders made absolute) and reserves: one GPU where the device asks for
    (or, with "auto", the cluster has) GPUs, else as many CPUs as its torch threads."""
    device = settings.device
    if device == "auto":
        device = "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
    device = "cuda" if device.startswith("cuda") else "cpu"
    values = {**settings.to_dict(), "device": device, "bark": model_location(settings.bark)}
    values["vocoder"] = model_location(settings.vocoder)
    resources = {"num_cpus": 1, "num_gpus": 1} if device == "cuda" else {"num_cpus": settings.threads or 1}
    return BatchSettings(**values), resources


def iter_ray(
    tasks: list[RowTask],
    out_dir: str | os.PathLike,
    settings: BatchSettings,
    workers: int = 1,
    ray_address: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Generate the rows with Ray Data and yield each row's manifest entry as it finishes (in any order).

    Without `ray_address` (and no Ray already started in this process) a new local Ray starts with `workers` CPUs
    (times the threads per worker) and stops at the end; with it, the driver joins that cluster (`ray start --head`
    prints the address; `"auto"` finds it through `RAY_ADDRESS` or the last cluster `ray start` began here), and
    every node needs bark-vocos installed and `out_dir` at the same path (a shared file system).

    Args:
        tasks: The rows to generate.
        out_dir: Existing output folder, as the workers see it.
        settings: Models, device and generation options (each actor loads them once).
        workers: Actors in the pool (each holds one pipeline; one GPU each when generating on CUDA).
        ray_address: A Ray cluster's address (`"auto"`, `"HOST:6379"`, `"ray://HOST:10001"`), or `None`.

    Yields:
        One manifest entry per row.
    """
    if not tasks:
        return
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        threads = settings.threads or 1
        # address "local": a new Ray of our own, even where `ray start` left a cluster (ray.init() would join it)
        options: dict[str, Any] = (
            {"address": ray_address} if ray_address else {"address": "local", "num_cpus": workers * threads}
        )
        ray.init(include_dashboard=False, logging_level="warning", log_to_driver=False, **options)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours counts rows and audio seconds
        context.print_on_execution_start = False
        settings, resources = _worker_settings(ray, settings)
        items = [{"task": json.dumps(asdict(task))} for task in tasks]
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), MAX_BLOCKS))
        dataset = dataset.map_batches(
            RayRowGenerator,
            fn_constructor_kwargs={"settings": settings.to_dict(), "out_dir": os.path.abspath(out_dir)},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            runtime_env=worker_runtime_env(),
            **resources,
        )
        for row in dataset.iter_rows():
            yield json.loads(row["entry"])
    except ray.exceptions.RayActorError as error:
        # e.g. a model path no worker can load: the actor's message ends with the error it raised
        last_line = next((line.strip() for line in reversed(str(error).splitlines()) if line.strip()), "")
        raise ValueError(f"a Ray worker died: {last_line}") from error
    finally:
        if started:
            ray.shutdown()
