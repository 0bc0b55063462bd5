"""The EnCodec-decoder-vs-Vocos comparison: scoring (from text, by resynthesis, of files), metrics and the report."""

from .report import format_table, write_report
from .resynthesis import compare_resynthesis
from .scoring import Comparison, ComparisonItem, compare_dirs, compare_files
from .text import compare_text, read_prompts

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
