"""The full chain into Vocos: tiny random Bark + tiny random Vocos loaded from make-tiny folders (noise, not speech)."""

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines import TextToWavPipeline
from pipelines.commands import main

TEXT = "Hello, my dog is cute [laughs]"
FAST = {"semantic_max_new_tokens": 12}


def _vocos(pipe, codes: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return pipe.vocoder(codes=torch.from_numpy(codes), bandwidth=6.0).audio[0].numpy()


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    return TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")


def test_vocos_decodes_the_same_fine_codes_as_encodec_would(pipe):
    out = pipe(TEXT, voice_preset="v2/en_speaker_0", seed=0, progress=False, **FAST)
    ab = pipe(TEXT, voice_preset="v2/en_speaker_0", seed=0, decoder="encodec", progress=False, **FAST)
    np.testing.assert_array_equal(out.codes, ab.codes)  # the decoder is the only change
    assert out.sampling_rate == 24000
    assert out.audio.dtype == np.float32 and out.audio.shape == (out.codes.shape[1] * 320,)
    assert np.isfinite(out.audio).all() and np.abs(out.audio).max() > 0
    expected = _vocos(pipe, out.codes)
    np.testing.assert_array_equal(out.audio, expected)
    assert not np.array_equal(out.audio, ab.audio)


def test_same_seed_bit_identical_other_seed_not(pipe):
    a = pipe(TEXT, voice_preset="v2/en_speaker_1", seed=7, progress=False, **FAST)
    b = pipe(TEXT, voice_preset="v2/en_speaker_1", seed=7, progress=False, **FAST)
    c = pipe(TEXT, voice_preset="v2/en_speaker_1", seed=8, progress=False, **FAST)
    assert a.audio.tobytes() == b.audio.tobytes()
    assert a.audio.shape != c.audio.shape or not np.array_equal(a.audio, c.audio)


def test_long_form_is_one_vocos_pass_across_joins(pipe):
    text = "Hello, my dog is cute. The dog was cute and I was he! Is it a dog? It is."
    out = pipe(text, seed=0, max_chunk_tokens=12, pause_seconds=0, progress=False, **FAST)
    assert len(out.chunks) == 3 and sum(out.chunk_frames) == out.codes.shape[1]
    expected = _vocos(pipe, out.codes)
    np.testing.assert_array_equal(out.audio, expected)
    steps = np.abs(np.diff(out.audio))
    for join in np.cumsum(out.chunk_frames)[:-1] * 320:
        assert steps[join - 1] <= steps.max()  # no step at a join beyond the signal's own


def test_batch_outputs_are_trimmed_and_decoded_alone(pipe):
    texts = ["Hello, my dog is cute [laughs]", "A much longer text, that is it, and the dog was cute and I was he."]
    outs = pipe(texts, voice_preset="v2/en_speaker_0", seed=0, progress=False)
    assert [o.codes.shape[1] for o in outs] == [31, 48]  # lengths differ with this seed (see the parity test)
    for out in outs:
        alone = _vocos(pipe, out.codes)
        np.testing.assert_array_equal(out.audio, alone)


def test_say_with_the_make_tiny_folders(pipe, tiny_dir, tmp_path, capsys):
    code = main(["say", TEXT, "-o", str(tmp_path / "x.wav"), "--bark", str(tiny_dir / "bark"), "--vocoder",
                 str(tiny_dir / "vocos"), "--seed", "0", "--no-progress", "--pause", "0"])  # fmt: skip
    assert code == 0
    assert "noise" in capsys.readouterr().err
    audio, sr = sf.read(tmp_path / "x.wav", dtype="float32")
    assert sr == 24000 and audio.shape[0] % 320 == 0
    np.testing.assert_array_equal(audio, pipe(TEXT, seed=0, progress=False).audio)  # the same as in Python


def test_unknown_vocoder_is_one_clear_error(tiny_dir):
    from bark_vocos.errors import ModelNotAvailableError

    with pytest.raises(ModelNotAvailableError, match="cannot load Vocos vocoder 'nobody/no-vocos'"):
        TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder="nobody/no-vocos")


def test_decode_runs_without_autograd(tiny_dir):
    from pipelines import TextToWavPipeline

    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    codes = torch.randint(0, 1024, (8, 5))
    seen = []
    pipe.vocoder.register_forward_hook(lambda module, args, kwargs_or_out: seen.append(torch.is_grad_enabled()))
    audio = pipe.decode(codes)
    assert seen == [False]
    assert audio.shape == (5 * 320,)
