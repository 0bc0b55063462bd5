"""Text to wav: Bark's semantic -> coarse -> fine stages, then the fine codes decoded by Vocos (or Bark's EnCodec).

```python
from pipelines import TextToWavPipeline

pipe = TextToWavPipeline.from_pretrained(bark="suno/bark-small", vocoder="hf-audio/vocos-encodec-24khz")
out = pipe("Hello, my dog is cute [laughs]", voice_preset="v2/en_speaker_6", seed=0)
out.save("hello.wav")
for chunk in pipe.stream(long_text, voice_preset="v2/en_speaker_6", seed=0):
    play(chunk.audio)  # each chunk as soon as it is decoded
```
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bark_vocos.bark import (
    BarkGenerationConfigs,
    BarkStages,
    BarkTokens,
    OptimizedBarkStages,
    bark_stages,
    check_engine,
)
from bark_vocos.hub import explain_unavailable
from bark_vocos.settings import settings as engine_settings
from bark_vocos.tuning import load_record, save_record
from bark_vocos.vocos.streaming import IncrementalDecoder

from ..defaults import (
    BARK_MODEL,
    BATCH_SIZE,
    DECODERS,
    ENGINE,
    MAX_CHUNK_TOKENS,
    MAX_PAUSE_SECONDS,
    PAUSE_SECONDS,
    VOCODER_MODEL,
)
from . import code_decoding
from .bark_generation import BarkChunkGenerator, SpeechPlan
from .checks import check_texts
from .devices import check_seed, resolve_device, resolve_dtype
from .long_form import Chunk, plan_chunks, plan_texts, schedule_batches
from .outputs import AudioChunk, TextToWavOutput
from .voice_presets import resolve_voice_preset

if TYPE_CHECKING:
    from transformers import BarkModel, BarkProcessor

    from bark_vocos import VocosEncodecModel

__all__ = ["AudioChunk", "TextToWavOutput", "TextToWavPipeline"]


class TextToWavPipeline:
    """Text to speech: Bark's three stages, then Bark's fine codes decoded by a Vocos-EnCodec vocoder.

    Args:
        bark: The Bark model; its `codec_model` is used only with `decoder="encodec"`.
        processor: Bark's processor (tokenizer and voice presets).
        vocoder: The Vocos vocoder; `None` allows only `decoder="encodec"`.
        stages: The engine running Bark's three stages; default: `bark_stages(bark, "exact")`.
            `BarkStages.from_bark(bark)` gives the model's own sub-models; any object whose `semantic`,
            `coarse_acoustics` and `fine_acoustics` have the transformers `generate` signatures works.
    """

    def __init__(
        self,
        bark: BarkModel,
        processor: BarkProcessor,
        vocoder: VocosEncodecModel | None = None,
        stages: BarkStages | OptimizedBarkStages | None = None,
    ):
        self.bark = bark
        self.processor = processor
        self.vocoder = vocoder
        self.stages = stages if stages is not None else bark_stages(bark, ENGINE)
        self.generation_configs = BarkGenerationConfigs.from_bark(bark)
        self._progress_bar_config: dict[str, Any] = {}
        load_record()  # the machine's measured kernel choices (`bark_vocos.tuning`), the vocoder's included

    @classmethod
    def from_pretrained(
        cls,
        bark: str | os.PathLike = BARK_MODEL,
        vocoder: str | os.PathLike | None = VOCODER_MODEL,
        *,
        device: str | torch.device | None = "cpu",
        dtype: str | torch.dtype | None = None,
        engine: str = ENGINE,
    ) -> TextToWavPipeline:
        """Load Bark (model + processor) and the vocoder from hub ids or local folders.

        Args:
            bark: Bark hub id or folder (a `BarkModel.save_pretrained` folder with tokenizer and speaker embeddings).
            vocoder: Vocos-EnCodec hub id or folder; `None` to decode with Bark's EnCodec only.
            device: `"cpu"`, `"cuda"`, `"cuda:N"` or `"auto"`.
            dtype: `None` (the checkpoint's), `"float16"`/`"fp16"`, `"bfloat16"`/`"bf16"`, or a torch dtype.
            engine: How Bark's stages run (see `bark_vocos.bark.engines`): `"exact"` (default), `"transformers"` or
                `"fast"`.

        Raises:
            ModelNotAvailableError: A hub id that cannot be loaded (offline or unknown); the message names the model.
            ValueError: An unknown device, dtype or engine.
        """
        from transformers import BarkModel, BarkProcessor

        from bark_vocos import VocosEncodecModel

        device = resolve_device(device)
        dtype = resolve_dtype(dtype)
        check_engine(engine)
        engine_settings()  # the BARK_VOCOS_* pins: a bad value fails here, before any model loads
        with explain_unavailable(bark, "Bark model", "--bark PATH or bark=PATH"):
            processor = BarkProcessor.from_pretrained(os.fspath(bark))
            bark_model = BarkModel.from_pretrained(os.fspath(bark), dtype=dtype)
        bark_model = bark_model.to(device).eval()
        vocoder_model = None
        if vocoder is not None:
            # its own from_pretrained turns an unreachable hub id into one clear error
            vocoder_model = VocosEncodecModel.from_pretrained(os.fspath(vocoder))
            vocoder_model = vocoder_model.to(device=device, dtype=dtype).eval()
        return cls(bark_model, processor, vocoder_model, stages=bark_stages(bark_model, engine))

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the per-stage tqdm bars (e.g. `disable=True`, `leave=False`, `file=sys.stdout`); by default
        they show on a terminal only (`disable=None`)."""
        self._progress_bar_config = dict(kwargs)

    def enable_cpu_offload(self, accelerator_id: int = 0) -> None:
        """Keep Bark's sub-models on the CPU and move each to the accelerator only while it runs (needs accelerate).

        Raises:
            ValueError: The stages are `OptimizedBarkStages` (engines "exact" and "fast"), which call the sub-models'
                layers directly, past the offload hooks: use `engine="transformers"`.
        """
        if isinstance(self.stages, OptimizedBarkStages):
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

    def sampling_rate(self, decoder: str = "vocos") -> int:
        """Samples per second of `decoder`'s audio, from the loaded model's config."""
        return code_decoding.sampling_rate(self.bark, self.vocoder, decoder)

    def hop_length(self, decoder: str = "vocos") -> int:
        """Samples per code frame of `decoder`, from the loaded model's config."""
        return code_decoding.hop_length(self.bark, self.vocoder, decoder)

    def tokenize(self, text: str) -> list[int]:
        """Bark tokenizer ids of `text` (no special tokens, as `BarkProcessor` encodes)."""
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"]

    def count_tokens(self, text: str) -> int:
        """Number of Bark tokenizer tokens of `text`."""
        return len(self.tokenize(text))

    def plan_chunks(
        self, text: str, max_chunk_tokens: int = MAX_CHUNK_TOKENS, first_chunk_tokens: int | None = None
    ) -> list[Chunk]:
        """The chunks `text` is generated in (see `pipelines.speech.long_form.plan_chunks`)."""
        return plan_chunks(0, text, self.tokenize, max_chunk_tokens, first_chunk_tokens)

    def check_inputs(
        self,
        texts: list[str],
        decoder: str,
        max_chunk_tokens: int,
        first_chunk_tokens: int | None,
        pause_seconds: float,
        batch_size: int,
    ) -> None:
        """Reject empty text and bad settings with a `ValueError`/`TypeError` naming the value and the valid ones."""
        check_texts(texts)
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder '{decoder}': use one of {list(DECODERS)}")
        if decoder == "vocos" and self.vocoder is None:
            raise ValueError("decoder='vocos' needs a vocoder: load one with from_pretrained(vocoder=...)")
        for name, value in (("max_chunk_tokens", max_chunk_tokens), ("first_chunk_tokens", first_chunk_tokens)):
            if value is not None and not (isinstance(value, int) and 1 <= value <= self.max_input_tokens):
                raise ValueError(f"{name} must be in [1, {self.max_input_tokens}] (a whole number), got {value!r}")
        if not (isinstance(pause_seconds, int | float) and 0 <= pause_seconds <= MAX_PAUSE_SECONDS):
            raise ValueError(f"pause_seconds must be a number in [0, {MAX_PAUSE_SECONDS}], got {pause_seconds}")
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")

    def _history(self, preset) -> dict[str, torch.Tensor] | None:
        """The voice preset as the tensors Bark's stages take, on Bark's device."""
        if preset is None:
            return None
        inputs = self.processor("x", voice_preset=preset)
        return {key: value.to(self.bark.device) for key, value in inputs["history_prompt"].items()}

    def _prepare(
        self,
        texts: list[str],
        *,
        voice_preset,
        seed: int | None,
        decoder: str,
        long_form: bool,
        max_chunk_tokens: int,
        first_chunk_tokens: int | None,
        prompt_with_previous: bool,
        pause_seconds: float,
        batch_size: int,
        generation_kwargs: dict[str, Any],
    ) -> SpeechPlan:
        """Check the inputs, plan each text's chunks and their generation order: everything before Bark runs."""
        self.check_inputs(texts, decoder, max_chunk_tokens, first_chunk_tokens, pause_seconds, batch_size)
        seed = check_seed(seed)
        configs = self.generation_configs
        preset = resolve_voice_preset(
            voice_preset,
            self.available_voice_presets,
            semantic_vocab_size=configs.semantic.semantic_vocab_size,
            codebook_size=configs.codebook_size,
        )
        history = self._history(preset)
        chunks = plan_texts(
            texts, self.tokenize, self.max_input_tokens, long_form, max_chunk_tokens, first_chunk_tokens
        )
        flat = [chunk for text_chunks in chunks for chunk in text_chunks]
        return SpeechPlan(
            chunks=chunks,
            batches=schedule_batches(flat, batch_size, prompt_with_previous),
            history=history,
            seed=seed,
            decoder=decoder,
            pause=int(round(pause_seconds * self.sampling_rate(decoder))),
            prompt_with_previous=prompt_with_previous,
            generation_kwargs=generation_kwargs,
        )

    def _generate(self, request: SpeechPlan, progress: bool) -> Iterator[tuple[Chunk, BarkTokens]]:
        """Bark's tokens of every chunk, in order, each as soon as its batch is generated (see `BarkChunkGenerator`)."""
        parts = (self.bark, self.processor, self.stages, self.generation_configs, self._progress_bar_config)
        return BarkChunkGenerator(*parts).generate(request, progress)

    def _decode_one_pass(self, codes: torch.Tensor, decoder: str) -> torch.Tensor:
        """Fine codes `(8, T)` -> float32 audio `(T * hop_length,)` on the decoder's device, in one pass."""
        return code_decoding.decode_one_pass(self.bark, self.vocoder, codes, decoder)

    def incremental_decoder(self, decoder: str = "vocos") -> IncrementalDecoder:
        """A decoder for one text's codes given chunk by chunk, exact at the joins (see `bark_vocos.vocos.streaming`).

        Vocos decodes each new stretch with its receptive field of context; EnCodec (unbounded memory) decodes from
        the text's start each time, which costs more as the text grows.
        """
        return code_decoding.incremental_decoder(self.bark, self.vocoder, decoder)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, decoder: str = "vocos") -> np.ndarray:
        """Fine codes `(8, T)` to float32 audio `(T * hop_length,)` with Vocos or Bark's own EnCodec decoder."""
        return self._decode_one_pass(codes, decoder).cpu().numpy()

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
        first_chunk_tokens: int | None = None,
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
            seed: Seeds the generation (torch's global generator, which transformers' `generate` samples from, swapped
                in only while Bark runs, so the caller's random state is untouched); the same seed, text and settings
                give bit-identical audio on CPU. `None` draws a seed, reported as `output.seed`.
            decoder: `"vocos"` (the bundled vocoder) or `"encodec"` (Bark's own `codec_decode`, for A/B).
            long_form: Split text longer than `max_chunk_tokens` into sentences packed into chunks, generate each with
                the same voice, and join them; with `False` the text is one generation (at most 256 tokens).
            max_chunk_tokens: Token budget of a chunk, in [1, 256]. Bark speaks about 13-14 s per generation, roughly
                45 tokens of English; longer chunks get cut off.
            first_chunk_tokens: A smaller budget for each text's first chunk (a short first chunk makes `stream`
                start sooner); `None`: the same budget as the other chunks.
            prompt_with_previous: Prompt each chunk with the previous chunk's tokens (sequential) instead of the voice
                preset.
            pause_seconds: Silence between chunks, in [0, 60]. With 0 the chunks' codes are decoded in one pass
                across the joins; otherwise the joined decode is cut at the joins with 10 ms fades around each pause.
            batch_size: Number of chunks generated together (a long text's first chunk runs alone).
            output_full: Also return `semantic_tokens` and `coarse_tokens` (for `save_voice_preset`).
            progress: Show a tqdm bar per stage (semantic tokens, coarse tokens, fine batches, decoding).
            **generation_kwargs: Passed to the stages as `BarkModel.generate` does: unprefixed to all three,
                `semantic_`/`coarse_`/`fine_` prefixed to one (e.g. `semantic_temperature=0.6`, `do_sample=False`).

        Returns:
            One `TextToWavOutput` for a string, a list of them for a list of strings.
        """
        # 1. Check inputs and plan: each text's chunks, and the order of their batches
        texts = list(text) if isinstance(text, list | tuple) else [text]
        request = self._prepare(
            texts,
            voice_preset=voice_preset,
            seed=seed,
            decoder=decoder,
            long_form=long_form,
            max_chunk_tokens=max_chunk_tokens,
            first_chunk_tokens=first_chunk_tokens,
            prompt_with_previous=prompt_with_previous,
            pause_seconds=pause_seconds,
            batch_size=batch_size,
            generation_kwargs=generation_kwargs,
        )

        # 2. Bark: semantic -> coarse -> fine for every chunk, batch by batch
        tokens = {(chunk.text_index, chunk.index): item for chunk, item in self._generate(request, progress)}

        # 3. Decode each text's codes in one pass across its chunk joins, insert the pauses, build the outputs
        bar_options = {"leave": False, "disable": None, **self._progress_bar_config}  # None: on a terminal only
        if not progress:
            bar_options["disable"] = True
        outputs = code_decoding.decode_texts(self.bark, self.vocoder, request, tokens, output_full, bar_options)
        save_record()  # the decoder's measured choices too
        return outputs if isinstance(text, list | tuple) else outputs[0]

    @torch.no_grad()
    def stream(
        self,
        text: str,
        *,
        voice_preset: str | os.PathLike | dict | None = None,
        seed: int | None = None,
        decoder: str = "vocos",
        long_form: bool = True,
        max_chunk_tokens: int = MAX_CHUNK_TOKENS,
        first_chunk_tokens: int | None = None,
        prompt_with_previous: bool = False,
        pause_seconds: float = PAUSE_SECONDS,
        batch_size: int = BATCH_SIZE,
        progress: bool = True,
        **generation_kwargs: Any,
    ) -> Iterator[AudioChunk]:
        """Speak `text`, yielding audio as soon as each chunk is generated and decoded.

        Takes the options of `__call__` (one text). With the same seed and options the chunks' audio concatenates to
        `pipe(text, ...).audio` (float rounding apart): chunks are generated in the same order, the first alone, and
        each chunk's last frames are held back until the next chunk's codes give them their right context, so the
        joins are decoded as in one pass. Nothing runs until the first chunk is asked for, and leaving the loop stops
        the generation (no work continues in the background).

        Yields:
            `AudioChunk`s: float32 audio with its sample offset and the text of the chunk that produced it.
        """
        if not isinstance(text, str):
            raise TypeError(f"stream takes one text (a string), got {type(text).__name__}")
        request = self._prepare(
            [text],
            voice_preset=voice_preset,
            seed=seed,
            decoder=decoder,
            long_form=long_form,
            max_chunk_tokens=max_chunk_tokens,
            first_chunk_tokens=first_chunk_tokens,
            prompt_with_previous=prompt_with_previous,
            pause_seconds=pause_seconds,
            batch_size=batch_size,
            generation_kwargs=generation_kwargs,
        )
        return self._stream(request, progress)

    @torch.no_grad()  # on a generator function torch sets the mode around each step, not while it is suspended
    def _stream(self, request: SpeechPlan, progress: bool) -> Iterator[AudioChunk]:
        """The audio of `request`'s one text, chunk by chunk (see `stream`)."""
        decoder = self.incremental_decoder(request.decoder)
        pauses = code_decoding.pause_inserter(self.bark, self.vocoder, request)
        hop = self.hop_length(request.decoder)
        rate = self.sampling_rate(request.decoder)
        offset = 0
        for chunk, item in self._generate(request, progress):
            pauses.add_piece(item.frames * hop, chunk.last)
            audio = pauses.feed(decoder.push(item.fine, final=chunk.last).cpu().numpy())
            save_record()
            yield AudioChunk(audio, rate, offset, chunk.text, chunk.index, request.seed)
            offset += audio.shape[0]
