"""Errors bark-vocos raises for problems a user can fix (bad input, unreachable model, unwritable path)."""

from __future__ import annotations

__all__ = ["BarkVocosError", "ModelNotAvailableError"]


class BarkVocosError(Exception):
    """Base class of the errors the command line reports as one clear line."""


class ModelNotAvailableError(BarkVocosError, OSError):
    """A model id is neither a local folder nor reachable on the Hugging Face Hub."""
