"""The EnCodec-decoder-vs-Vocos comparison: scoring (from text, by resynthesis, of files), metrics and the report.

Names are imported on first use (PEP 562), so the command line's parser loads neither matplotlib nor transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Comparison",
    "ComparisonItem",
    "compare_dirs",
    "compare_files",
    "compare_resynthesis",
    "compare_text",
    "format_table",
    "read_prompts",
    "write_report",
]

# public name -> the submodule that defines it
_SOURCES = {
    "Comparison": ".scoring",
    "ComparisonItem": ".scoring",
    "compare_dirs": ".scoring",
    "compare_files": ".scoring",
    "compare_resynthesis": ".resynthesis",
    "compare_text": ".text",
    "format_table": ".report",
    "read_prompts": ".text",
    "write_report": ".report",
}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
