"""Long-form text: sentence chunks, same voice, optional previous-chunk prompting, joins without clicks, pauses."""

import numpy as np
import pytest
import torch

from bark_vocos.bark import BarkStages
from pipelines import TextToWavPipeline
from pipelines.speech.sentences import chunk_text

TEXT = "Hello, my dog is cute. The dog was cute and I was he! Is it a dog? It is."
FAST = {"semantic_max_new_tokens": 12}  # shorter generations keep the test quick


@pytest.fixture(scope="module")
def pipe(tiny_bark_dir):
    return TextToWavPipeline.from_pretrained(bark=tiny_bark_dir, vocoder=None)


@pytest.fixture(scope="module")
def joined(pipe):
    """The same long-form generation, joined without pause and with a 0.1 s pause."""
    kwargs = dict(voice_preset="v2/en_speaker_1", seed=0, decoder="encodec", max_chunk_tokens=12, progress=False)
    return pipe(TEXT, pause_seconds=0.0, **kwargs, **FAST), pipe(TEXT, pause_seconds=0.1, **kwargs, **FAST)


def test_chunks_follow_the_splitter_and_codes_concatenate(pipe, joined):
    plain, _ = joined
    assert plain.chunks == chunk_text(TEXT, pipe.count_tokens, 12)
    assert plain.chunks == ["Hello, my dog is cute.", "The dog was cute and I was he!", "Is it a dog? It is."]
    assert all(pipe.count_tokens(c) <= 12 for c in plain.chunks)
    assert sum(plain.chunk_frames) == plain.codes.shape[1]
    assert all(0 < n <= 18 for n in plain.chunk_frames)  # 12 semantic tokens -> at most 18 frames


def test_no_pause_decodes_across_the_joins(pipe, joined):
    plain, _ = joined
    assert plain.audio.shape == (plain.codes.shape[1] * 320,)
    # one decoder pass over all chunks' codes: nothing is cut or stitched at the joins
    np.testing.assert_array_equal(plain.audio, pipe.decode(torch.from_numpy(plain.codes), "encodec"))


def test_pause_is_silence_with_faded_edges(joined):
    plain, paused = joined
    np.testing.assert_array_equal(plain.codes, paused.codes)  # same seed, same tokens
    pause, fade = 2400, 240
    joins = np.cumsum(plain.chunk_frames)[:-1] * 320
    assert paused.audio.shape == (plain.audio.shape[0] + len(joins) * pause,)
    own_jump = np.abs(np.diff(plain.audio)).max()
    for k, join in enumerate(joins):
        start = join + k * pause  # where the pause begins in the paused audio
        assert not paused.audio[start : start + pause].any()
        # the audio around the pause fades to zero: no step larger than the signal's own steps
        around = paused.audio[start - fade : start + pause + fade]
        assert np.abs(np.diff(around)).max() <= own_jump
        assert abs(paused.audio[start - 1]) < 0.01 * np.abs(plain.audio).max() + 1e-6
        # away from the fades the audio is the unpaused decode
        np.testing.assert_array_equal(
            paused.audio[start - 2 * fade : start - fade], plain.audio[join - 2 * fade : join - fade]
        )


def test_prompting_each_chunk_with_the_previous_one(pipe):
    histories = []
    own = BarkStages.from_bark(pipe.bark)

    class RecordingSemantic:
        def generate(self, input_ids, **kwargs):
            histories.append(kwargs["history_prompt"])
            return own.semantic.generate(input_ids, **kwargs)

    stages = BarkStages(RecordingSemantic(), own.coarse_acoustics, own.fine_acoustics)
    swapped = TextToWavPipeline(pipe.bark, pipe.processor, None, stages=stages)
    text = "Hello, my dog is cute. The dog was cute and I was he!"
    out = swapped(
        text, voice_preset="v2/en_speaker_1", seed=0, decoder="encodec", max_chunk_tokens=12,
        prompt_with_previous=True, output_full=True, progress=False, **FAST,
    )  # fmt: skip
    assert len(out.chunks) == 2 and len(histories) == 2
    preset = np.load(pipe.bark.config.name_or_path + "/speaker_embeddings/v2/en_speaker_1_semantic_prompt.npy")
    np.testing.assert_array_equal(histories[0]["semantic_prompt"].numpy(), preset)
    first = out.chunk_frames[0]
    np.testing.assert_array_equal(histories[1]["fine_prompt"].numpy(), out.codes[:, :first])
    np.testing.assert_array_equal(histories[1]["coarse_prompt"].numpy(), out.coarse_tokens[:, :first])
    n_semantic = histories[1]["semantic_prompt"].shape[0]
    np.testing.assert_array_equal(histories[1]["semantic_prompt"].numpy(), out.semantic_tokens[:n_semantic])


def test_long_form_off_refuses_text_past_bark_limit(pipe):
    long_text = " ".join(["hello my dog is cute"] * 60)
    with pytest.raises(ValueError, match="at most 256"):
        pipe(long_text, long_form=False, decoder="encodec", progress=False)


def test_two_thousand_words_are_chunked_under_the_limit(pipe):
    text = " ".join(f"Sentence {i} says that the dog, which is cute, was here at 3.5 p.m. today." for i in range(140))
    assert len(text.split()) >= 2000
    chunks = [chunk.text for chunk in pipe.plan_chunks(text, max_chunk_tokens=48)]
    assert " ".join(chunks).split() == text.split()
    assert all(pipe.count_tokens(c) <= 48 for c in chunks)


@pytest.mark.slow
def test_two_thousand_words_end_to_end(pipe):
    text = " ".join(f"Sentence {i} says that the dog, which is cute, was here today." for i in range(170))
    out = pipe(text, voice_preset="v2/en_speaker_0", seed=0, decoder="encodec", batch_size=8, progress=False)
    assert len(out.chunks) > 40
    assert out.audio.shape[0] == out.codes.shape[1] * 320 + (len(out.chunks) - 1) * 4800


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"text": "  \n "}, ValueError, "empty or only whitespace"),
        ({"text": []}, ValueError, "no text"),
        ({"text": ["ok", 3]}, TypeError, "got int at 1"),
        ({"decoder": "griffin-lim"}, ValueError, "unknown decoder 'griffin-lim'"),
        ({"decoder": "vocos"}, ValueError, "needs a vocoder"),
        ({"max_chunk_tokens": 300}, ValueError, r"max_chunk_tokens must be in \[1, 256\]"),
        ({"pause_seconds": -1}, ValueError, "pause_seconds"),
        ({"voice_preset": "v2/nope"}, ValueError, "unknown voice preset"),
    ],
)
def test_caller_mistakes(pipe, kwargs, error, message):
    kwargs = {"text": "Hello", "decoder": "encodec", **kwargs}
    with pytest.raises(error, match=message):
        pipe(kwargs.pop("text"), progress=False, **kwargs)


def test_devices_and_dtypes():
    from pipelines.speech.devices import resolve_device, resolve_dtype

    assert resolve_device(None) == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "gpu0", "mps"):
        with pytest.raises(ValueError, match=f"unknown device '{bad}'"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype("bf16") == torch.bfloat16 and resolve_dtype(None) is None
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        resolve_dtype("int8")
