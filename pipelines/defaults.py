"""The defaults every command and pipeline shares: model ids, decoders, engines, generation settings."""

__all__ = [
    "BARK_MODEL",
    "BATCH_SIZE",
    "DECODERS",
    "ENCODEC_MODEL",
    "ENGINES",
    "MAX_CHUNK_TOKENS",
    "MAX_PAUSE_SECONDS",
    "MAX_SEED",
    "PAUSE_SECONDS",
    "VOCODER_MODEL",
    "check_seed",
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
MAX_PAUSE_SECONDS = 10.0  # a longer pause between chunks is surely a typo (1e6 s would need 89 GiB of zeros)
MAX_SEED = 2**32 - 1  # seeds are integers in [0, 2**32 - 1] (what numpy and torch both take)
BATCH_SIZE = 4


def check_seed(seed: int | None, name: str = "seed") -> int | None:
    """`seed` if it is `None` or an integer in `[0, MAX_SEED]`.

    Args:
        seed: The seed to check.
        name: How the caller calls it in the message (e.g. "--seed").

    Raises:
        TypeError: Not an integer.
        ValueError: Out of range; the message gives the valid range.
    """
    if seed is None:
        return None
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"{name} must be an integer, got {type(seed).__name__}")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} {seed} is out of range: give an integer from 0 to 2**32-1 ({MAX_SEED})")
    return int(seed)
