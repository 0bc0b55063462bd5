"""Parity: the pipeline's Bark stages give the fine codes (and EnCodec audio) of transformers' BarkModel.generate.

The pipeline runs its default engine ("exact": OptimizedBarkStages) and is compared with transformers' own
`BarkModel.generate`, sampled (same seed) and greedy; the pipeline's stages must not fall back to transformers.
"""

import numpy as np
import pytest
import torch

from bark_vocos.bark import BarkStages, OptimizedBarkStages
from pipelines import TextToWavPipeline

TEXT = "Hello, my dog is cute [laughs]"


@pytest.fixture(scope="module")
def pipe(tiny_bark_dir):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None)
    assert isinstance(pipe.stages, OptimizedBarkStages) and pipe.stages.mode == "exact"  # the default engine
    return pipe


def _no_fallback(pipe, monkeypatch):
    """Make any call of transformers' sub-model `generate` fail: the fast stages must run their own loops."""

    def fallback(*args, **kwargs):
        raise AssertionError("OptimizedBarkStages fell back to transformers' generate")

    for name in ("semantic", "coarse_acoustics", "fine_acoustics"):
        monkeypatch.setattr(getattr(pipe.bark, name), "generate", fallback)


def _reference(pipe, monkeypatch, texts, seed, **kwargs):
    """BarkModel.generate on the same weights; returns (audio, fine codes handed to codec_decode, output lengths)."""
    seen = {}
    original = pipe.bark.codec_decode

    def spy(fine_output, output_lengths=None):
        seen["fine"], seen["lengths"] = fine_output.clone(), output_lengths
        return original(fine_output, output_lengths)

    monkeypatch.setattr(pipe.bark, "codec_decode", spy)
    inputs = pipe.processor(texts, voice_preset="v2/en_speaker_0")
    torch.manual_seed(seed)
    audio = pipe.bark.generate(**inputs, **kwargs)
    monkeypatch.undo()
    return audio, seen["fine"], seen["lengths"]


def test_sampling_parity_with_bark_generate(pipe, monkeypatch, capsys):
    audio, fine, _ = _reference(pipe, monkeypatch, TEXT, seed=3)
    _no_fallback(pipe, monkeypatch)
    # with progress bars on (shown although stderr is captured, not a terminal): their token streamers change nothing
    pipe.set_progress_bar_config(disable=False)
    try:
        out = pipe(TEXT, voice_preset="v2/en_speaker_0", seed=3, decoder="encodec", progress=True)
    finally:
        pipe.set_progress_bar_config()
    assert "semantic" in capsys.readouterr().err
    assert out.codes.shape == (8, fine.shape[-1])
    np.testing.assert_array_equal(out.codes, fine[0].numpy())
    # Bark's own decoder on the same codes: the audio BarkModel.generate returns, bit for bit
    np.testing.assert_array_equal(out.audio, audio[0].numpy())
    assert out.sampling_rate == 24000
    assert out.audio.dtype == np.float32 and out.audio.shape == (out.codes.shape[1] * 320,)


TEXTS = ["Hello, my dog is cute [laughs]", "A much longer text, that is it, and the dog was cute and I was he."]


def test_batch_parity_and_trimming_to_output_lengths(pipe, monkeypatch):
    _, fine, lengths = _reference(pipe, monkeypatch, TEXTS, seed=0, return_output_lengths=True)
    _no_fallback(pipe, monkeypatch)
    outs = pipe(TEXTS, voice_preset="v2/en_speaker_0", seed=0, decoder="encodec", progress=False)
    assert len(outs) == 2
    assert len({int(n) for n in lengths}) == 2, "with this seed the two texts stop at different lengths"
    for out, codes, n in zip(outs, fine, lengths, strict=True):
        assert out.codes.shape == (8, int(n))
        np.testing.assert_array_equal(out.codes, codes[:, : int(n)].numpy())
        assert out.audio.shape == (int(n) * 320,)


def test_greedy_parity(pipe, monkeypatch):
    greedy = {"do_sample": False, "fine_temperature": 1.0}
    _, fine, lengths = _reference(pipe, monkeypatch, TEXTS, seed=0, return_output_lengths=True, **greedy)
    _no_fallback(pipe, monkeypatch)
    outs = pipe(TEXTS, voice_preset="v2/en_speaker_0", seed=0, decoder="encodec", progress=False, **greedy)
    for out, codes, n in zip(outs, fine, lengths, strict=True):
        np.testing.assert_array_equal(out.codes, codes[:, : int(n)].numpy())


def test_stages_object_is_the_seam(pipe):
    """Any object with the three sub-model generate methods can stand in for the BarkModel's own sub-models."""
    calls = []

    class Recording:
        def __init__(self, name, stage):
            self.name, self.stage = name, stage

        def generate(self, *args, **kwargs):
            calls.append(self.name)
            return self.stage.generate(*args, **kwargs)

    own = BarkStages.from_bark(pipe.bark)
    stages = BarkStages(
        semantic=Recording("semantic", own.semantic),
        coarse_acoustics=Recording("coarse", own.coarse_acoustics),
        fine_acoustics=Recording("fine", own.fine_acoustics),
    )
    swapped = TextToWavPipeline(pipe.bark, pipe.processor, None, stages=stages)
    a = swapped(TEXT, seed=1, decoder="encodec", progress=False)
    b = pipe(TEXT, seed=1, decoder="encodec", progress=False)
    assert calls == ["semantic", "coarse", "fine"]
    np.testing.assert_array_equal(a.codes, b.codes)


def test_engines(tiny_bark_dir, pipe):
    reference = TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None, engine="transformers")
    assert isinstance(reference.stages, BarkStages) and reference.stages.semantic is reference.bark.semantic
    fast = TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None, engine="fast")
    assert isinstance(fast.stages, OptimizedBarkStages) and fast.stages.mode == "fast"
    # sampled with a seed: transformers' stages and the default engine give the same codes
    kwargs = {"voice_preset": "v2/en_speaker_1", "seed": 5, "decoder": "encodec", "progress": False}
    np.testing.assert_array_equal(reference(TEXTS, **kwargs)[1].codes, pipe(TEXTS, **kwargs)[1].codes)
    out = fast(TEXT, **kwargs)
    assert out.codes.shape[0] == 8 and out.codes.min() >= 0 and out.codes.max() < 1024


def test_engine_mistakes_raise(tiny_bark_dir, pipe):
    # checked before anything is loaded: a missing model folder is not what gets reported
    with pytest.raises(ValueError, match="unknown engine 'turbo': use one of transformers, exact, fast"):
        TextToWavPipeline.from_pretrained(bark=tiny_bark_dir / "missing", vocoder=None, engine="turbo")
    with pytest.raises(ValueError, match="cpu offload needs engine 'transformers'"):
        pipe.enable_cpu_offload()
