"""A Bark voice preset from a recording: HuBERT + quantizer for the semantic tokens, EnCodec for the codes.

    cloner = VoiceCloner.from_pretrained()  # facebook/hubert-base-ls960, GitMylo/bark-voice-cloning, EnCodec 24 kHz
    voice = cloner(audio, sampling_rate)    # the last part of the recording with speech in it
    voice.save("myvoice.npz")               # then: pipe(text, voice_preset="myvoice.npz")

Bark reads only the end of a voice prompt (`VoiceBounds`, from the Bark model's generation config), so one window of
the recording is used (`voice_window.choose_window`); the three arrays cover that same window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from transformers import EncodecModel, HubertModel

from bark_vocos.bark.orchestration import BarkGenerationConfigs
from bark_vocos.hub import check_model_source, explain_unavailable
from bark_vocos.hubert_features import HUBERT_SAMPLING_RATE, hubert_features, load_hubert
from bark_vocos.hubert_quantizer import HubertQuantizer, load_hubert_quantizer, resolve_quantizer_file
from bark_vocos.vocos import bandwidth_for_num_codebooks

from ..defaults import BARK_MODEL, ENCODEC_MODEL, HUBERT_MODEL, QUANTIZER_FILE, QUANTIZER_MODEL
from ..io.audio_io import read_audio, resample
from .devices import resolve_device
from .voice_presets import save_voice_preset
from .voice_window import VoiceWindow, choose_window

__all__ = [
    "HISTORY_MARGIN_SECONDS",
    "MAX_RECORDING_SECONDS",
    "ClonedVoice",
    "Recording",
    "VoiceBounds",
    "VoiceCloner",
    "read_recording",
    "voice_from_audio",
]

# Kept beyond what Bark reads: the stages cut their history at slightly different points (coarse drops 2 codes for
# alignment; semantic/coarse ratios round), so the window is this much longer than the longest history.
HISTORY_MARGIN_SECONDS = 0.5
# A longer recording is refused before it is read (an hour of 48 kHz audio would take 700 MB): pick a part first.
MAX_RECORDING_SECONDS = 600.0


@dataclass(frozen=True)
class VoiceBounds:
    """What a Bark model reads of a voice prompt, from its generation config, and the sizes a preset must have.

    Attributes:
        semantic_vocab_size: Semantic tokens lie in `[0, semantic_vocab_size)` (10_000).
        codebook_size: Codes lie in `[0, codebook_size)` (1024).
        n_coarse: Coarse codebooks (2).
        n_fine: Fine codebooks (8: EnCodec at 6 kbps).
        codec_sampling_rate: Bark's EnCodec rate (24_000).
        history_seconds: `{"semantic": ..., "coarse": ..., "fine": ...}`: how many seconds each stage reads from the
            end of a prompt (`max_input_semantic_length / semantic_rate_hz`, `max_coarse_history / n_coarse /
            coarse_rate_hz`, `max_fine_history_length / coarse_rate_hz`; 5.13, 4.2 and 6.83 s for Suno's Bark).
    """

    semantic_vocab_size: int
    codebook_size: int
    n_coarse: int
    n_fine: int
    codec_sampling_rate: int
    history_seconds: dict[str, float]

    @property
    def max_seconds(self) -> float:
        """The longest window a voice is made from: the longest history plus `HISTORY_MARGIN_SECONDS`."""
        return max(self.history_seconds.values()) + HISTORY_MARGIN_SECONDS

    @classmethod
    def from_configs(cls, configs: BarkGenerationConfigs, codec_sampling_rate: int) -> VoiceBounds:
        """From Bark's per-stage generation configs and its codec's sampling rate."""
        semantic, coarse, fine = configs.semantic, configs.coarse, configs.fine
        return cls(
            semantic_vocab_size=int(semantic.semantic_vocab_size),
            codebook_size=int(configs.codebook_size),
            n_coarse=int(coarse.n_coarse_codebooks),
            n_fine=int(fine.n_fine_codebooks),
            codec_sampling_rate=int(codec_sampling_rate),
            history_seconds={
                "semantic": semantic.max_input_semantic_length / semantic.semantic_rate_hz,
                "coarse": coarse.max_coarse_history / coarse.n_coarse_codebooks / coarse.coarse_rate_hz,
                "fine": fine.max_fine_history_length / coarse.coarse_rate_hz,
            },
        )

    @classmethod
    def from_pretrained(cls, bark: str | os.PathLike = BARK_MODEL) -> VoiceBounds:
        """Read a Bark model's `config.json` and `generation_config.json` only (no weights).

        Raises:
            ModelNotAvailableError: Not a Bark folder, or a hub id that cannot be had.
        """
        from transformers import BarkConfig, GenerationConfig

        check_model_source(bark, "Bark model", "--bark PATH", "bark")
        with explain_unavailable(bark, "Bark model", "--bark PATH"):
            config = BarkConfig.from_pretrained(os.fspath(bark))
            generation_config = GenerationConfig.from_pretrained(os.fspath(bark))
        configs = BarkGenerationConfigs.from_generation_config(generation_config)
        return cls.from_configs(configs, config.codec_config.sampling_rate)


@dataclass(frozen=True)
class ClonedVoice:
    """A voice preset made from a recording, and which part of it was used.

    Attributes:
        semantic_prompt: `(S,)` int64 semantic tokens, about 49.9 per second of `window`.
        coarse_prompt: `(n_coarse, T)` int64 codes: the first codebooks of `fine_prompt`.
        fine_prompt: `(n_fine, T)` int64 EnCodec codes, 75 frames per second of `window`.
        window: The part of the recording used.
        bounds: The Bark model's bounds the preset was made for.
    """

    semantic_prompt: np.ndarray
    coarse_prompt: np.ndarray
    fine_prompt: np.ndarray
    window: VoiceWindow
    bounds: VoiceBounds

    def as_preset(self) -> dict[str, np.ndarray]:
        """The dict `voice_preset=` accepts."""
        keys = ("semantic_prompt", "coarse_prompt", "fine_prompt")
        return {key: getattr(self, key) for key in keys}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the preset `.npz` atomically (`voice_presets.save_voice_preset`), checked against `bounds`."""
        return save_voice_preset(
            path,
            **self.as_preset(),
            semantic_vocab_size=self.bounds.semantic_vocab_size,
            codebook_size=self.bounds.codebook_size,
        )


@dataclass(frozen=True)
class Recording:
    """A recording read for cloning: `audio` `(T,)` float32 mono at `sampling_rate`, from `channels` channels."""

    audio: np.ndarray
    sampling_rate: int
    channels: int


def read_recording(path: str | os.PathLike) -> Recording:
    """Read any file soundfile reads, downmixed to mono; its length is checked before its samples are read.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not an audio file soundfile reads, empty, or longer than `MAX_RECORDING_SECONDS`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recording not found: {path}")
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as error:
        raise ValueError(f"cannot read {path} as audio: {error}") from None
    if info.frames > MAX_RECORDING_SECONDS * info.samplerate:
        raise ValueError(
            f"the recording is too long: {info.duration:.0f} s, at most {MAX_RECORDING_SECONDS:g} s; cut the part "
            "to clone first (Bark reads only a few seconds of it)"
        )
    audio, sampling_rate = read_audio(path)
    return Recording(audio=audio, sampling_rate=int(sampling_rate), channels=int(info.channels))


class VoiceCloner:
    """HuBERT, the quantizer and EnCodec, loaded once, turning recordings into voice presets for one Bark model.

    Args:
        hubert: From `bark_vocos.hubert_features.load_hubert` (cut after its 9th layer).
        quantizer: From `bark_vocos.hubert_quantizer.load_hubert_quantizer`.
        encodec: An `EncodecModel` at Bark's codec rate with Bark's codebook size.
        bounds: The Bark model's (`VoiceBounds.from_pretrained`).

    Raises:
        ValueError: Models that do not fit together: quantizer input vs HuBERT width, quantizer output vs Bark's
            semantic vocabulary, EnCodec's rate, codebook size or bandwidths vs Bark's.
    """

    def __init__(self, hubert: HubertModel, quantizer: HubertQuantizer, encodec: EncodecModel, bounds: VoiceBounds):
        if quantizer.config.input_size != hubert.config.hidden_size:
            raise ValueError(
                f"the quantizer reads {quantizer.config.input_size} features, HuBERT gives "
                f"{hubert.config.hidden_size}: use the HuBERT it was trained on (HuBERT base: 768)"
            )
        if quantizer.config.output_size != bounds.semantic_vocab_size:
            raise ValueError(
                f"the quantizer gives {quantizer.config.output_size} semantic tokens, the Bark model has "
                f"{bounds.semantic_vocab_size}: use a quantizer trained for this Bark model (check --quantizer, --bark)"
            )
        self.bandwidth = bandwidth_for_num_codebooks(bounds.n_fine)
        config = encodec.config
        if config.sampling_rate != bounds.codec_sampling_rate or config.codebook_size != bounds.codebook_size:
            raise ValueError(
                f"EnCodec at {config.sampling_rate} Hz with {config.codebook_size}-bin codebooks does not fit the "
                f"Bark model ({bounds.codec_sampling_rate} Hz, {bounds.codebook_size} bins): use EnCodec 24 kHz"
            )
        if self.bandwidth not in [float(b) for b in config.target_bandwidths]:
            raise ValueError(f"EnCodec has no {self.bandwidth:g} kbps ({bounds.n_fine} codebooks) bandwidth")
        self.hubert, self.quantizer, self.encodec, self.bounds = hubert, quantizer, encodec, bounds

    @classmethod
    def from_pretrained(
        cls,
        *,
        hubert: str | os.PathLike = HUBERT_MODEL,
        quantizer: str | os.PathLike = QUANTIZER_MODEL,
        encodec: str | os.PathLike = ENCODEC_MODEL,
        bark: str | os.PathLike = BARK_MODEL,
        device: str | torch.device | None = "cpu",
    ) -> VoiceCloner:
        """Load the three models and the Bark model's bounds (its configs only) from hub ids or local paths.

        Args:
            hubert: HuBERT base hub id or folder.
            quantizer: Quantizer file, folder, hub id `owner/name` (its `QUANTIZER_FILE`) or `owner/name/FILE`.
            encodec: EnCodec 24 kHz hub id or folder.
            bark: The Bark model the voice is for (hub id or folder).
            device: `"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"`.

        Raises:
            ModelNotAvailableError: A model that cannot be had (offline, unknown, a wrong folder).
            ValueError: A wrong quantizer file, or models that do not fit together.
        """
        device = resolve_device(device)
        bounds = VoiceBounds.from_pretrained(bark)
        quantizer_model = load_hubert_quantizer(resolve_quantizer_file(quantizer, QUANTIZER_FILE))
        hubert_model = load_hubert(hubert)
        check_model_source(encodec, "EnCodec model", "--encodec PATH", "encodec")
        with explain_unavailable(encodec, "EnCodec model", "--encodec PATH"):
            encodec_model = EncodecModel.from_pretrained(os.fspath(encodec)).eval()
        return cls(hubert_model.to(device), quantizer_model.to(device), encodec_model.to(device), bounds)

    @torch.no_grad()
    def __call__(
        self, audio: np.ndarray, sampling_rate: int, *, start: float | None = None, seconds: float | None = None
    ) -> ClonedVoice:
        """Make a voice from one window of `audio`.

        Args:
            audio: `(T,)` float mono samples in [-1, 1] (downmix first: `read_recording` does).
            sampling_rate: In Hz; resampled to 16 kHz for HuBERT and Bark's codec rate for EnCodec.
            start: Window start in seconds; `None`: the last part with speech (see `voice_window.choose_window`).
            seconds: Window length, at most `bounds.max_seconds` (the default).

        Returns:
            The preset and the window used.

        Raises:
            ValueError: Audio that is not 1-D, finite and at most `MAX_RECORDING_SECONDS` long; a bad window, too
                short, silent, or too little speech (see `choose_window`).
        """
        audio = self._check_inputs(audio, sampling_rate)
        # 1. the window
        window = choose_window(audio, sampling_rate, max_seconds=self.bounds.max_seconds, start=start, seconds=seconds)
        part = audio[window.samples(sampling_rate)]
        device = next(self.quantizer.parameters()).device
        # 2. semantic tokens: HuBERT's 9th layer at 16 kHz, quantized
        speech = torch.from_numpy(resample(part, sampling_rate, HUBERT_SAMPLING_RATE))[None].to(device)
        semantic = self.quantizer.tokens(hubert_features(self.hubert, speech))[0]
        # 3. codes: EnCodec at Bark's rate and n_fine codebooks
        wave = torch.from_numpy(resample(part, sampling_rate, self.bounds.codec_sampling_rate))[None, None]
        codes = self.encodec.encode(wave.to(device), bandwidth=self.bandwidth).audio_codes[0, 0]
        fine = codes.cpu().numpy().astype(np.int64)
        return ClonedVoice(
            semantic_prompt=semantic.cpu().numpy().astype(np.int64),
            coarse_prompt=fine[: self.bounds.n_coarse].copy(),
            fine_prompt=fine,
            window=window,
            bounds=self.bounds,
        )

    @staticmethod
    def _check_inputs(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int | np.integer) or sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be a positive integer in Hz, got {sampling_rate!r}")
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"audio must be mono, shape (T,), got {audio.shape}: average the channels first")
        if not np.isfinite(audio).all():
            raise ValueError("audio holds NaN or infinite samples")
        if len(audio) > MAX_RECORDING_SECONDS * sampling_rate:
            raise ValueError(
                f"the recording is too long: {len(audio) / sampling_rate:.0f} s, at most {MAX_RECORDING_SECONDS:g} s"
            )
        return audio


def voice_from_audio(
    audio: np.ndarray,
    sampling_rate: int,
    *,
    start: float | None = None,
    seconds: float | None = None,
    hubert: str | os.PathLike = HUBERT_MODEL,
    quantizer: str | os.PathLike = QUANTIZER_MODEL,
    encodec: str | os.PathLike = ENCODEC_MODEL,
    bark: str | os.PathLike = BARK_MODEL,
    device: str | torch.device | None = "cpu",
) -> ClonedVoice:
    """Load the models (`VoiceCloner.from_pretrained`) and make one voice; keep a `VoiceCloner` for several."""
    cloner = VoiceCloner.from_pretrained(hubert=hubert, quantizer=quantizer, encodec=encodec, bark=bark, device=device)
    return cloner(audio, sampling_rate, start=start, seconds=seconds)
