"""The environment of the processes the tests start."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment as it is when called (conftest's session variables and a test's monkeypatched ones
    included, so call it when the process starts, not at import), with the repository importable, the hub offline,
    and `extra` on top."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **extra}
