"""The machine's tuning record: the measured choices (`bark_vocos.choices.CHOICES`) kept on disk between processes.

Every process of ours that runs an engine reads the record once (`load_record`) and adds what it measured
(`save_record`), so a kernel is timed once per machine rather than once per process, and two processes with the same
seed and settings choose, and therefore round, alike. Where it lives (`record_path`): `BARK_VOCOS_TUNING_RECORD`
when set (`off`: no record at all), else `$XDG_CACHE_HOME/bark-vocos/tuning.json` (`~/.cache/...` without
`XDG_CACHE_HOME`). A record made on another CPU, ISA or torch / ONNX Runtime version, or unreadable, is ignored with
one warning and rewritten by the next save.

Beside the record, in the folder `onnx-steps`, the decode steps' ONNX graphs are kept (`step_graph_folder`): each
serialized once per shape, so that a new process neither imports `onnx` nor builds them (their weights are not in
them: they are computed from the model in every process). `off` turns that off too.
"""

from __future__ import annotations

import os
from pathlib import Path

from .choices import CHOICES
from .settings import settings

__all__ = ["OFF", "load_record", "record_path", "rounded_weight_folder", "save_record", "step_graph_folder"]

OFF = "off"
_state: dict[str, object] = {"loaded": None, "saved": None}  # the path loaded, the choices as last read or written


def record_path() -> Path | None:
    """Where the tuning record is read and written, or None when `BARK_VOCOS_TUNING_RECORD=off`."""
    configured = settings().tuning_record
    if configured == OFF:
        return None
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "bark-vocos" / "tuning.json"


def step_graph_folder() -> Path | None:
    """Where the ONNX Runtime decode-step graphs are cached (`bark_vocos.bark.onnx_step.build_step_graph`): the
    folder `onnx-steps` beside the tuning record, or None when the record is off."""
    path = record_path()
    return None if path is None else path.parent / "onnx-steps"


def rounded_weight_folder() -> Path | None:
    """Where the fast engine's and the step graphs' 8-bit weights are cached (`bark_vocos.bark.rounding`): the folder
    `rounded-weights` beside the tuning record, or None when the record is off."""
    path = record_path()
    return None if path is None else path.parent / "rounded-weights"


def load_record() -> int:
    """Keep the choices of the record (once per process and path; later calls load nothing) and return how many."""
    path = record_path()
    if path is None or _state["loaded"] == path:
        return 0
    measured_before = any(CHOICES.snapshot().values())
    count = CHOICES.load(path)
    # the file now holds all this process keeps, unless it had measured choices before reading it
    _state["loaded"], _state["saved"] = path, None if measured_before else CHOICES.snapshot()
    return count


def save_record() -> bool:
    """Write the record if this process measured choices since it last read or wrote it; return whether it wrote.

    What other processes added to the file meanwhile is kept (`ChoiceRegistry.save` merges). A record that cannot be
    written (a read-only home) is skipped with one warning: the choices then stay this process's own.
    """
    path = record_path()
    if path is None:
        return False
    if _state["loaded"] != path:
        load_record()
    snapshot = CHOICES.snapshot()
    if snapshot == _state["saved"]:
        return False
    try:
        CHOICES.save(path)
    except OSError as error:
        import warnings

        warnings.warn(f"bark-vocos: could not write the tuning record {path}: {error}", stacklevel=2)
        _state["saved"] = snapshot  # one warning, not one per call
        return False
    _state["saved"] = snapshot
    return True
