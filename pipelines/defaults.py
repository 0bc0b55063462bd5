"""The defaults every command and pipeline shares: model ids, decoders, engines, generation settings."""

__all__ = [
    "BARK_MODEL",
    "BATCH_SIZE",
    "DECODERS",
    "ENCODEC_MODEL",
    "ENGINES",
    "MAX_CHUNK_TOKENS",
    "PAUSE_SECONDS",
    "VOCODER_MODEL",
]

BARK_MODEL = "suno/bark-small"
VOCODER_MODEL = "hf-audio/vocos-encodec-24khz"
ENCODEC_MODEL = "facebook/encodec_24khz"
# "vocos": the bundled vocoder; "encodec": Bark's own EnCodec decoder (the A/B reference)
DECODERS = ("vocos", "encodec")
# how Bark's three stages run: transformers' own sub-models (the reference), or our stages in exact or fast mode
ENGINES = ("transformers", "exact", "fast")
MAX_CHUNK_TOKENS = 48  # Bark speaks ~13-14 s per generation, roughly 45 tokens of English
PAUSE_SECONDS = 0.2
BATCH_SIZE = 4
