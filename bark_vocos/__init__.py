"""bark-vocos model layer: the bundled VocosEncodec vocoder (config, processor, model) and Bark glue."""

from .errors import BarkVocosError, ModelNotAvailableError

__all__ = ["BarkVocosError", "ModelNotAvailableError"]
