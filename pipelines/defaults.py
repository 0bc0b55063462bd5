"""The defaults every command and pipeline shares: model ids, decoders, engines, generation settings and their bounds.

Plain constants only: the command line reads them to build its parser and check settings, before torch loads.
"""

from bark_vocos.bark.names import ENGINES

__all__ = [
    "BARK_MAX_INPUT_TOKENS",
    "BARK_MODEL",
    "BATCH_SIZE",
    "DECODER",
    "DECODERS",
    "DEVICE",
    "DEFAULT_MAX_LAG_MS",
    "ENCODEC_MODEL",
    "ENGINE",
    "ENGINES",
    "FORMATS",
    "HUBERT_MODEL",
    "MAX_CHUNK_TOKENS",
    "MAX_PAUSE_SECONDS",
    "MAX_SEED",
    "PAUSE_SECONDS",
    "QUANTIZER_FILE",
    "QUANTIZER_MODEL",
    "RUNNERS",
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
DECODER = "vocos"  # the decoder of every command and pipeline call that names none
DEVICE = "cpu"  # where the models run unless told (cpu, cuda, cuda:N or auto)
ENGINE = "exact"  # how Bark's stages run; the valid engines are bark_vocos.bark.ENGINES (re-exported here)
MAX_CHUNK_TOKENS = 48  # Bark speaks ~13-14 s per generation, roughly 45 tokens of English
PAUSE_SECONDS = 0.2
BATCH_SIZE = 4
MAX_PAUSE_SECONDS = 60.0
MAX_SEED = 2**64 - 1  # torch.manual_seed takes [0, 2**64)
RUNNERS = ("local", "ray")  # where `batch` runs its rows
FORMATS = ("wav", "flac")  # the audio formats `batch` writes
# `compare`: a candidate may be shifted by up to this much to line up with its reference (see `compare.metrics.align`)
DEFAULT_MAX_LAG_MS = 50.0
# Bark's text limit per generation (max_input_semantic_length of every Bark checkpoint); the pipeline checks the
# loaded model's own value again.
BARK_MAX_INPUT_TOKENS = 256
