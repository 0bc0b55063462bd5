"""Text to wav: Bark's semantic -> coarse -> fine stages, then the fine codes decoded by Vocos (or Bark's EnCodec).

```python
from pipelines import TextToWavPipeline

pipe = TextToWavPipeline.from_pretrained(bark="suno/bark-small", vocoder="hf-audio/vocos-encodec-24khz")
out = pipe("Hello, my dog is cute [laughs]", voice_preset="v2/en_speaker_6", seed=0)
out.save("hello.wav")
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.signal.windows import hann
from tqdm.auto import tqdm
from transformers.generation.streamers import BaseStreamer

from bark_vocos.bark import (
    BarkGenerationConfigs,
    BarkStages,
    coarse_frames_for_semantic,
    generate_bark_tokens,
    split_generation_kwargs,
)
from bark_vocos.bark.fast import FastBarkStages
from bark_vocos.hub import explain_unavailable

from .audio_io import write_audio
from .defaults import BARK_MODEL, BATCH_SIZE, DECODERS, ENGINES, MAX_CHUNK_TOKENS, PAUSE_SECONDS, VOCODER_MODEL
from .sentences import chunk_text
from .voice_presets import resolve_voice_preset, save_voice_preset

if TYPE_CHECKING:
    from transformers import BarkModel, BarkProcessor

    from bark_vocos import VocosEncodecModel

__all__ = [
    "TextToWavOutput",
    "TextToWavPipeline",
    "bark_stages",
    "resolve_device",
    "resolve_dtype",
]

SAMPLING_RATE = 24_000
HOP_LENGTH = 320  # EnCodec 24 kHz: 75 frames/s, 320 samples per frame
DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
FADE_SECONDS = 0.01  # raised-cosine fade on each side of an inserted pause, so the cut makes no click


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`"cpu"` (default), `"cuda"`, `"cuda:N"`, `"auto"` (CUDA when available) or a `torch.device`.

    Raises:
        ValueError: An unknown device name, or CUDA asked for on a machine without it.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device '{device}': use cpu, cuda, cuda:N or auto") from error
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device '{device}': use cpu, cuda, cuda:N or auto")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' asked for, but CUDA is not available here: use cpu or auto")
    return resolved


def _check_engine(engine: str) -> str:
    """`engine` if it is one of `ENGINES`.

    Raises:
        ValueError: Another value; the message lists the valid engines.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    return engine


def bark_stages(bark: BarkModel, engine: str = "exact") -> BarkStages | FastBarkStages:
    """The three Bark stages of `bark` run by `engine`.

    Args:
        bark: The loaded Bark model.
        engine: `"transformers"`: the model's own sub-models (the reference); `"exact"`: `FastBarkStages` in exact
            mode (same codes as transformers, greedy or sampled with the same seed, faster on CPU); `"fast"`:
            `FastBarkStages` in fast mode (int8 dynamic quantisation of a copy of the linear layers, CPU only; codes
            agree with fp32 only approximately).

    Raises:
        ValueError: An unknown engine, or `"fast"` with the model off the CPU.
    """
    if _check_engine(engine) == "transformers":
        return BarkStages.from_bark(bark)
    return FastBarkStages(bark, mode=engine)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """`None` (the checkpoint's dtype), a torch floating dtype, or one of the names in `DTYPES`."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}': use one of {sorted(DTYPES)}")
    return DTYPES[dtype]


@dataclass
class TextToWavOutput:
    """What `TextToWavPipeline` returns for one text.

    Attributes:
        audio: float32 mono samples, shape `(T,)`; `T = frames * 320 + pauses` (no pause for a single chunk).
        sampling_rate: 24000.
        codes: Bark's fine codes, int64, shape `(8, frames)`: what the decoder turned into `audio`.
        semantic_tokens: Semantic tokens, int64, shape `(S,)`, with `output_full=True`.
        coarse_tokens: Coarse codes, int64, shape `(2, frames)`, with `output_full=True`.
        chunks: The text of each generation (one per chunk of long-form text).
        chunk_frames: Number of fine-code frames of each chunk (they sum to `frames`).
    """

    audio: np.ndarray
    sampling_rate: int
    codes: np.ndarray
    semantic_tokens: np.ndarray | None = None
    coarse_tokens: np.ndarray | None = None
    chunks: list[str] = field(default_factory=list)
    chunk_frames: list[int] = field(default_factory=list)

    def save(self, path: str | os.PathLike) -> Path:
        """Write `audio` to a `.wav` or `.flac` file (atomically: no partial file on failure)."""
        return write_audio(path, self.audio, self.sampling_rate)

    def save_voice_preset(self, path: str | os.PathLike) -> Path:
        """Save this generation as a Bark voice preset `.npz`, reusable as `voice_preset=path`.

        Needs the output of a call with `output_full=True`. For long-form text the preset holds all chunks' tokens;
        Bark's stages keep only the aligned tails they can use (e.g. the last 256 semantic tokens).
        """
        if self.semantic_tokens is None or self.coarse_tokens is None:
            raise ValueError("this output has no semantic/coarse tokens: call the pipeline with output_full=True")
        return save_voice_preset(path, self.semantic_tokens, self.coarse_tokens, self.codes)


class _TokenProgress(BaseStreamer):
    """Advances a tqdm bar once per generated token (transformers' streamer protocol; the prompt is skipped)."""

    def __init__(self, bar: tqdm):
        self.bar = bar
        self.is_prompt = True

    def put(self, value: torch.Tensor) -> None:
        if self.is_prompt:
            self.is_prompt = False
        else:
            self.bar.update(1)

    def end(self) -> None:
        self.is_prompt = True


def _insert_pauses(audio: np.ndarray, joins: list[int], pause: int, fade: int) -> np.ndarray:
    """Cut `audio` at each sample index in `joins`, fade both sides of each cut, and put `pause` zeros in between."""
    if pause == 0 or not joins:
        return audio
    fade_in = hann(2 * fade + 1, sym=True)[:fade].astype(np.float32)
    pieces = np.split(audio, joins)
    silence = np.zeros(pause, dtype=np.float32)
    out = []
    for i, piece in enumerate(pieces):
        piece = piece.copy()
        n = min(fade, piece.shape[0])
        if i > 0:
            piece[:n] *= fade_in[:n]
        if i < len(pieces) - 1:
            piece[piece.shape[0] - n :] *= fade_in[:n][::-1]
            out.extend([piece, silence])
        else:
            out.append(piece)
    return np.concatenate(out)


class TextToWavPipeline:
    """Text to speech: Bark's three stages, then Bark's fine codes decoded by a Vocos-EnCodec vocoder.

    Args:
        bark: The Bark model; its `codec_model` is used only with `decoder="encodec"`.
        processor: Bark's processor (tokenizer and voice presets).
        vocoder: The Vocos vocoder; `None` allows only `decoder="encodec"`.
        stages: The three Bark stages; default: `bark_stages(bark, "exact")`. `BarkStages.from_bark(bark)` gives
            the model's own sub-models; any object whose `semantic`, `coarse_acoustics` and `fine_acoustics` have
            the transformers `generate` signatures works.
    """

    def __init__(
        self,
        bark: BarkModel,
        processor: BarkProcessor,
        vocoder: VocosEncodecModel | None = None,
        stages: BarkStages | None = None,
    ):
        self.bark = bark
        self.processor = processor
        self.vocoder = vocoder
        self.stages = stages if stages is not None else bark_stages(bark, "exact")
        self.generation_configs = BarkGenerationConfigs.from_bark(bark)
        self._progress_bar_config: dict[str, Any] = {}

    @classmethod
    def from_pretrained(
        cls,
        bark: str | os.PathLike = BARK_MODEL,
        vocoder: str | os.PathLike | None = VOCODER_MODEL,
        *,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype | None = None,
        engine: str = "exact",
    ) -> TextToWavPipeline:
        """Load Bark (model + processor) and the vocoder from hub ids or local folders.

        Args:
            bark: Bark hub id or folder (a `BarkModel.save_pretrained` folder with tokenizer and speaker embeddings).
            vocoder: Vocos-EnCodec hub id or folder; `None` to decode with Bark's EnCodec only.
            device: `"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"`.
            dtype: `None` (float32), `"float16"`/`"fp16"`, `"bfloat16"`/`"bf16"`, or a torch dtype.
            engine: How Bark's stages run (see `bark_stages`): `"exact"` (default), `"transformers"` or `"fast"`.

        Raises:
            ModelNotAvailableError: A hub id that cannot be loaded (offline or unknown); the message names the model.
            ValueError: An unknown device, dtype or engine, or engine `"fast"` off the CPU.
        """
        from transformers import BarkModel, BarkProcessor

        device = resolve_device(device)
        dtype = resolve_dtype(dtype)
        _check_engine(engine)
        if engine == "fast" and device.type != "cpu":
            raise ValueError(f"engine 'fast' (int8 dynamic quantisation) runs on CPU only, got device '{device}'")
        with explain_unavailable(bark, "Bark model", "--bark PATH or bark=PATH"):
            processor = BarkProcessor.from_pretrained(os.fspath(bark))
            bark_model = BarkModel.from_pretrained(os.fspath(bark), dtype=dtype)
        bark_model = bark_model.to(device).eval()
        vocoder_model = None
        if vocoder is not None:
            from bark_vocos import VocosEncodecModel

            # its own from_pretrained turns an unreachable hub id into one clear error
            vocoder_model = VocosEncodecModel.from_pretrained(os.fspath(vocoder))
            vocoder_model = vocoder_model.to(device=device, dtype=dtype).eval()
        return cls(bark_model, processor, vocoder_model, stages=bark_stages(bark_model, engine))

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the per-stage tqdm bars (e.g. `disable=True`, `leave=False`, `file=sys.stdout`)."""
        self._progress_bar_config = dict(kwargs)

    def enable_cpu_offload(self, accelerator_id: int = 0) -> None:
        """Keep Bark's sub-models on the CPU and move each to the accelerator only while it runs (needs accelerate).

        Raises:
            ValueError: The stages are `FastBarkStages` (engines "exact" and "fast"), which call the sub-models'
                layers directly, past the offload hooks: use `engine="transformers"`.
        """
        if isinstance(self.stages, FastBarkStages):
            raise ValueError(
                f"cpu offload needs engine 'transformers', this pipeline runs engine {self.stages.mode!r}: "
                "load it with engine='transformers'"
            )
        self.bark.enable_cpu_offload(accelerator_id=accelerator_id)
        if self.vocoder is not None:
            self.vocoder.to(self.bark.device)

    @property
    def available_voice_presets(self) -> list[str]:
        """The voice preset names of the Bark repository (its `speaker_embeddings_path.json`)."""
        return list(self.processor.available_voice_presets)

    @property
    def max_input_tokens(self) -> int:
        """Bark's text limit in tokens (`max_input_semantic_length`, 256): longer input is truncated by Bark."""
        return int(self.generation_configs.semantic.max_input_semantic_length)

    def count_tokens(self, text: str) -> int:
        """Number of Bark tokenizer tokens of `text` (no special tokens, as `BarkProcessor` encodes)."""
        return len(self.processor.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_inputs(
        self,
        texts: list[str],
        decoder: str,
        max_chunk_tokens: int,
        pause_seconds: float,
        batch_size: int,
        long_form: bool,
    ) -> None:
        """Reject empty text and bad settings with a `ValueError`/`TypeError` naming the value and the valid ones."""
        if not texts:
            raise ValueError("no text given: pass a non-empty string or list of strings")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text must be a string or a list of strings, got {type(text).__name__} at {i}")
            if not text.strip():
                raise ValueError("text is empty or only whitespace: give some words to speak")
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder '{decoder}': use one of {list(DECODERS)}")
        if decoder == "vocos" and self.vocoder is None:
            raise ValueError("decoder='vocos' needs a vocoder: load one with from_pretrained(vocoder=...)")
        if not 1 <= max_chunk_tokens <= self.max_input_tokens:
            raise ValueError(f"max_chunk_tokens must be in [1, {self.max_input_tokens}], got {max_chunk_tokens}")
        if pause_seconds < 0:
            raise ValueError(f"pause_seconds must be >= 0, got {pause_seconds}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not long_form:
            for text in texts:
                n = self.count_tokens(text)
                if n > self.max_input_tokens:
                    raise ValueError(
                        f"text has {n} tokens but Bark reads at most {self.max_input_tokens}: use long_form=True"
                    )

    def _chunks(self, text: str, long_form: bool, max_chunk_tokens: int) -> list[str]:
        text = text.strip()
        if not long_form or self.count_tokens(text) <= max_chunk_tokens:
            return [text]
        return chunk_text(text, self.count_tokens, max_chunk_tokens)

    def _history(self, preset) -> dict[str, torch.Tensor] | None:
        """The voice preset as the tensors Bark's stages take, on Bark's device."""
        if preset is None:
            return None
        inputs = self.processor("x", voice_preset=preset)
        return {key: value.to(self.bark.device) for key, value in inputs["history_prompt"].items()}

    def _bar(self, desc: str, total: int | None, unit: str) -> tqdm:
        options = {"desc": desc, "total": total, "unit": unit, "leave": False, **self._progress_bar_config}
        return tqdm(**options)

    def _generate(
        self, texts: list[str], history, kwargs: dict[str, Any], bars: dict[str, tqdm] | None
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Bark tokens `(semantic (S,), coarse (2, T), fine (8, T))` for one batch of texts with one voice prompt."""
        inputs = self.processor(texts)
        semantic_kwargs, coarse_kwargs, fine_kwargs = split_generation_kwargs(
            {**kwargs, "attention_mask": inputs["attention_mask"].to(self.bark.device)}
        )
        after_semantic = None
        if bars is not None:
            semantic_kwargs["streamer"] = _TokenProgress(bars["semantic"])
            coarse_kwargs["streamer"] = _TokenProgress(bars["coarse"])

            def after_semantic(semantic_output: torch.Tensor) -> None:
                pad = self.generation_configs.semantic.semantic_pad_token
                longest = int((semantic_output != pad).sum(1).max())
                n_coarse = self.generation_configs.coarse.n_coarse_codebooks
                bars["coarse"].total = (bars["coarse"].total or 0) + n_coarse * coarse_frames_for_semantic(
                    longest, self.generation_configs
                )
                bars["coarse"].refresh()

        def after_fine() -> None:
            if getattr(self.bark, "fine_acoustics_hook", None) is not None:
                self.bark.fine_acoustics_hook.offload()  # as BarkModel.generate does with cpu offload
            if bars is not None:
                bars["fine"].update(1)

        tokens = generate_bark_tokens(
            self.stages,
            self.generation_configs,
            inputs["input_ids"].to(self.bark.device),
            history,
            semantic_kwargs=semantic_kwargs,
            coarse_kwargs=coarse_kwargs,
            fine_kwargs=fine_kwargs,
            after_semantic=after_semantic,
            after_fine=after_fine,
        )
        return list(zip(tokens.semantic, tokens.coarse, tokens.fine, strict=True))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, decoder: str = "vocos") -> np.ndarray:
        """Fine codes `(8, T)` to float32 audio `(T * 320,)` with Vocos (at 6 kbps) or Bark's own EnCodec decoder."""
        if decoder == "vocos":
            from bark_vocos.vocos.bandwidth import bandwidth_for_num_codebooks

            device = next(self.vocoder.parameters()).device
            output = self.vocoder(codes=codes.to(device), bandwidth=bandwidth_for_num_codebooks(codes.shape[0]))
            audio = output.audio[0]
        else:
            if getattr(self.bark, "codec_model_hook", None) is not None:
                self.bark.codec_model = self.bark.codec_model.to(self.bark.device)
            audio = self.bark.codec_decode(codes[None].to(self.bark.device))[0]
        return audio.float().cpu().numpy().reshape(-1)

    @torch.no_grad()
    def __call__(
        self,
        text: str | list[str],
        *,
        voice_preset: str | os.PathLike | dict | None = None,
        seed: int | None = None,
        decoder: str = "vocos",
        long_form: bool = True,
        max_chunk_tokens: int = MAX_CHUNK_TOKENS,
        prompt_with_previous: bool = False,
        pause_seconds: float = PAUSE_SECONDS,
        batch_size: int = BATCH_SIZE,
        output_full: bool = False,
        progress: bool = True,
        **generation_kwargs: Any,
    ) -> TextToWavOutput | list[TextToWavOutput]:
        """Speak `text` (or each text of a list) and return the audio with the codes it was decoded from.

        Args:
            text: A text, or a list of texts generated as batches of `batch_size` (each output trimmed to its own
                length with Bark's output lengths).
            voice_preset: A preset name of the Bark repository (`available_voice_presets`), a local `.npz` path, or a
                dict with `semantic_prompt`, `coarse_prompt`, `fine_prompt` arrays. Used for every chunk.
            seed: Seeds torch's generator for the whole call (inside `torch.random.fork_rng`, so the caller's random
                state is left as it was); the same seed, text and settings give bit-identical audio on CPU.
                transformers' `generate` samples from torch's global generator, so there is no `generator` argument.
            decoder: `"vocos"` (the bundled vocoder) or `"encodec"` (Bark's own `codec_decode`, for A/B).
            long_form: Split text longer than `max_chunk_tokens` into sentences packed into chunks, generate each with
                the same voice, and join them; with `False` the text is one generation (at most 256 tokens).
            max_chunk_tokens: Token budget of a chunk. Bark speaks about 13-14 s per generation, roughly 45 tokens of
                English; longer chunks get cut off.
            prompt_with_previous: Prompt each chunk with the previous chunk's tokens (sequential) instead of the voice
                preset (chunks of all texts then run as batches).
            pause_seconds: Silence between chunks. With 0 the chunks' codes are decoded in one pass across the joins;
                otherwise the joined decode is cut at the joins with 10 ms fades around each pause.
            batch_size: Number of chunks generated together.
            output_full: Also return `semantic_tokens` and `coarse_tokens` (for `save_voice_preset`).
            progress: Show a tqdm bar per stage (semantic tokens, coarse tokens, fine batches, decoding).
            **generation_kwargs: Passed to the stages as `BarkModel.generate` does: unprefixed to all three,
                `semantic_`/`coarse_`/`fine_` prefixed to one (e.g. `semantic_temperature=0.6`, `do_sample=False`).

        Returns:
            One `TextToWavOutput` for a string, a list of them for a list of strings.
        """
        # 1. Check inputs
        texts = [text] if isinstance(text, str) else list(text) if isinstance(text, list | tuple) else [text]
        self.check_inputs(texts, decoder, max_chunk_tokens, pause_seconds, batch_size, long_form)
        preset = resolve_voice_preset(voice_preset, self.available_voice_presets)
        preset_history = self._history(preset)

        # 2. Split long texts into chunks Bark can speak in one generation
        chunks = [self._chunks(t, long_form, max_chunk_tokens) for t in texts]
        jobs = [(i, j) for i, text_chunks in enumerate(chunks) for j in range(len(text_chunks))]
        results: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

        bars = None
        if progress:
            semantic_steps = self.generation_configs.semantic.max_new_tokens
            n_batches = len(jobs) if prompt_with_previous else -(-len(jobs) // batch_size)
            bars = {
                "semantic": self._bar("semantic", semantic_steps * n_batches, "tok"),
                "coarse": self._bar("coarse", 0, "tok"),
                "fine": self._bar("fine", n_batches, "batch"),
            }
        try:
            with torch.random.fork_rng(devices=[]):
                if seed is not None:
                    torch.manual_seed(seed)
                # 3. Bark: semantic -> coarse -> fine, in batches (or chunk after chunk, each prompted by the last)
                if prompt_with_previous:
                    for i, text_chunks in enumerate(chunks):
                        history = preset_history
                        for j, chunk in enumerate(text_chunks):
                            results[i, j] = self._generate([chunk], history, generation_kwargs, bars)[0]
                            semantic, coarse, fine = results[i, j]
                            history = {
                                "semantic_prompt": semantic.to(self.bark.device),
                                "coarse_prompt": coarse.to(self.bark.device),
                                "fine_prompt": fine.to(self.bark.device),
                            }
                else:
                    for start in range(0, len(jobs), batch_size):
                        batch = jobs[start : start + batch_size]
                        tokens = self._generate(
                            [chunks[i][j] for i, j in batch], preset_history, generation_kwargs, bars
                        )
                        results.update(zip(batch, tokens, strict=True))
        finally:
            for bar in (bars or {}).values():
                bar.close()

        # 4. Decode each text's fine codes in one pass across its chunk joins, then insert the pauses
        outputs = []
        pause = int(round(pause_seconds * SAMPLING_RATE))
        fade = int(round(FADE_SECONDS * SAMPLING_RATE))
        decode_bar = self._bar("decode", len(texts), "text") if progress else None
        for i, text_chunks in enumerate(chunks):
            parts = [results[i, j] for j in range(len(text_chunks))]
            codes = torch.cat([fine for _, _, fine in parts], dim=1)
            frames = [int(fine.shape[1]) for _, _, fine in parts]
            audio = self.decode(codes, decoder)
            assert audio.shape[0] == codes.shape[1] * HOP_LENGTH, (audio.shape, codes.shape)
            joins = list(np.cumsum(frames)[:-1] * HOP_LENGTH)
            audio = _insert_pauses(audio, joins, pause, fade)
            output = TextToWavOutput(
                audio=audio.astype(np.float32),
                sampling_rate=SAMPLING_RATE,
                codes=codes.numpy(),
                chunks=list(text_chunks),
                chunk_frames=frames,
            )
            if output_full:
                output.semantic_tokens = torch.cat([semantic for semantic, _, _ in parts]).numpy()
                output.coarse_tokens = torch.cat([coarse for _, coarse, _ in parts], dim=1).numpy()
            outputs.append(output)
            if decode_bar is not None:
                decode_bar.update(1)
        if decode_bar is not None:
            decode_bar.close()
        return outputs[0] if isinstance(text, str) else outputs
