"""The defaults every command and pipeline shares: model ids, decoders, engines, generation settings."""

from bark_vocos.bark import ENGINES

__all__ = [
    "BARK_MODEL",
    "BATCH_SIZE",
    "DECODERS",
    "ENCODEC_MODEL",
    "ENGINE",
    "ENGINES",
    "HUBERT_MODEL",
    "MAX_CHUNK_TOKENS",
    "PAUSE_SECONDS",
    "QUANTIZER_FILE",
    "QUANTIZER_MODEL",
    "VOCODER_MODEL",
]

BARK_MODEL = "suno/bark-small"
VOCODER_MODEL = "hf-audio/vocos-encodec-24khz"
ENCODEC_MODEL = "facebook/encodec_24khz"
# voice cloning: HuBERT base (9th layer) and gitmylo's quantizer to Bark semantic tokens (MIT), EnCodec for the codes
HUBERT_MODEL = "facebook/hubert-base-ls960"
QUANTIZER_MODEL = "GitMylo/bark-voice-cloning"
QUANTIZER_FILE = "quantifier_V1_hubert_base_ls960_23.pth"  # the repo's newest quantizer (version 1, 23 epochs)
# "vocos": the bundled vocoder; "encodec": Bark's own EnCodec decoder (the A/B reference)
DECODERS = ("vocos", "encodec")
ENGINE = "exact"  # how Bark's stages run; the valid engines are bark_vocos.bark.ENGINES (re-exported here)
MAX_CHUNK_TOKENS = 48  # Bark speaks ~13-14 s per generation, roughly 45 tokens of English
PAUSE_SECONDS = 0.2
BATCH_SIZE = 4
