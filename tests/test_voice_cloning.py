"""A voice from a recording: window choice, tokens and codes from tiny random models, the CLI and `say --voice`.

Every model here has RANDOM weights: the presets are valid Bark input, never anyone's voice.
"""

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.commands import main
from pipelines.speech.voice_cloning import MAX_RECORDING_SECONDS, VoiceCloner, voice_from_audio
from pipelines.speech.voice_presets import resolve_voice_preset
from pipelines.speech.voice_window import FRAME_SECONDS, TAIL_SECONDS, choose_window

SR = 22_050  # a rate neither model runs at, so both resampling paths run


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_bark_dir):
    from bark_vocos.testing import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer

    root = tmp_path_factory.mktemp("voice_models")
    return {
        "bark": tiny_bark_dir,
        "hubert": save_tiny_hubert(root / "hubert"),
        "quantizer": save_tiny_quantizer(root / "tiny_quantizer.pth"),
        "encodec": save_tiny_encodec(root / "encodec"),
    }


@pytest.fixture(scope="module")
def cloner(models):
    return VoiceCloner.from_pretrained(
        hubert=models["hubert"], quantizer=models["quantizer"], encodec=models["encodec"], bark=models["bark"]
    )


def _speech(seconds: float, silence_after: float = 0.0) -> np.ndarray:
    """Speech-like syllables: a gliding harmonic tone (f0 110-210 Hz) sounding about 75 % of the time at 3 syllables
    per second, faded in and out over 0.2 s, then `silence_after` seconds of silence."""
    t = np.arange(round(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(160 + 50 * np.sin(2 * np.pi * 0.7 * t)) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 20))
    syllables = np.clip(1.5 * np.sin(2 * np.pi * 3 * t) + 1.0, 0, 1) * (t > 0.2) * (t < seconds - 0.2)
    audio = 0.5 * tone * syllables / np.abs(tone).max()
    return np.concatenate([audio, np.zeros(round(silence_after * SR))]).astype(np.float32)


def test_default_window_is_the_last_part_with_speech():
    audio = _speech(10.0, silence_after=3.0)  # speech until 9.8 s (the signal fades out 0.2 s before its end)
    window = choose_window(audio, SR, max_seconds=6.0)
    end = window.start + window.seconds
    assert window.seconds == pytest.approx(6.0)
    assert 9.8 - 0.2 <= end - TAIL_SECONDS <= 9.8 + FRAME_SECONDS
    assert 2.0 < window.speech_seconds < 6.0  # syllables with gaps between them
    short = choose_window(_speech(4.0), SR, max_seconds=6.0)  # shorter than the window: all of it
    assert short.start == 0 and short.seconds == pytest.approx(4.0, abs=1 / SR)


def test_start_and_seconds_choose_the_part():
    audio = _speech(12.0)
    window = choose_window(audio, SR, max_seconds=7.0, start=1.5, seconds=3.0)
    assert (window.start, window.seconds) == (1.5, 3.0)
    assert window.samples(SR) == slice(round(1.5 * SR), round(1.5 * SR) + 3 * SR)
    cut = choose_window(audio, SR, max_seconds=7.0, start=8.0)  # cut at the recording's end
    assert cut.seconds == pytest.approx(4.0, abs=1 / SR)


@pytest.mark.parametrize(
    ("audio", "options", "message"),
    [
        (np.zeros(5 * SR, np.float32), {}, "the recording is silent"),
        (_speech(1.5), {}, "too short: 1.50 s"),
        (_speech(8.0), {"seconds": 30.0}, r"seconds 30 is out of range: 2 to 7.00"),
        (_speech(8.0), {"seconds": 1.0}, "seconds 1 is out of range"),
        (_speech(8.0), {"start": 9.0}, "outside the recording"),
        (np.concatenate([_speech(1.2), np.zeros(5 * SR, np.float32)]), {"start": 0.0}, "too little speech"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(audio, options, message):
    with pytest.raises(ValueError, match=message):
        choose_window(audio, SR, max_seconds=7.0, **options)


def test_resampling_matches_soxr_and_the_analytic_signal():
    import soxr

    from pipelines.io.audio_io import resample

    t = np.arange(3 * 44_100) / 44_100
    audio = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ours = resample(audio, 44_100, 16_000)
    reference = soxr.resample(audio, 44_100, 16_000, quality="VHQ")
    middle = slice(1600, len(reference) - 1600)  # the filters' edges differ
    assert len(ours) == len(reference) == 48_000
    np.testing.assert_allclose(ours[middle], reference[middle], atol=2e-3)
    exact = 0.5 * np.sin(2 * np.pi * 440 * np.arange(48_000) / 16_000)
    np.testing.assert_allclose(ours[middle], exact[middle], atol=2e-3)


def test_cloned_voice_has_bark_rates_and_passes_the_preset_checks(cloner):
    voice = cloner(_speech(9.0, silence_after=1.0), SR)
    seconds = voice.window.seconds
    assert seconds == pytest.approx(cloner.bounds.max_seconds)
    assert abs(voice.semantic_prompt.shape[0] - 49.9 * seconds) <= 1
    assert voice.fine_prompt.shape == (8, int(np.ceil(75 * seconds)))
    np.testing.assert_array_equal(voice.coarse_prompt, voice.fine_prompt[:2])
    assert voice.semantic_prompt.max() < 64 and voice.fine_prompt.max() < 1024 and voice.fine_prompt.min() >= 0
    assert len(np.unique(voice.semantic_prompt)) > 1
    checked = resolve_voice_preset(voice.as_preset(), [], semantic_vocab_size=64, codebook_size=1024)
    for key, array in checked.items():
        np.testing.assert_array_equal(array, voice.as_preset()[key])
    again = cloner(_speech(9.0, silence_after=1.0), SR)
    for key, array in again.as_preset().items():
        np.testing.assert_array_equal(array, voice.as_preset()[key])


def test_tokens_and_codes_come_from_the_chosen_window(cloner):
    from bark_vocos.hubert_features import hubert_features
    from pipelines.io.audio_io import resample

    audio = _speech(10.0)
    voice = cloner(audio, SR, start=2.0, seconds=3.0)
    part = audio[round(2.0 * SR) : round(5.0 * SR)]
    features = hubert_features(cloner.hubert, torch.from_numpy(resample(part, SR, 16_000))[None])
    np.testing.assert_array_equal(voice.semantic_prompt, cloner.quantizer.tokens(features)[0].numpy())
    wave = torch.from_numpy(resample(part, SR, 24_000))[None, None]
    codes = cloner.encodec.encode(wave, bandwidth=6.0).audio_codes[0, 0].numpy()
    np.testing.assert_array_equal(voice.fine_prompt, codes)


def test_voice_from_audio_and_save(models, tmp_path):
    voice = voice_from_audio(
        _speech(6.0), SR, seconds=4.0, **{key: models[key] for key in ("hubert", "quantizer", "encodec", "bark")}
    )
    path = voice.save(tmp_path / "mine.npz")
    with np.load(path) as saved:
        assert sorted(saved.files) == ["coarse_prompt", "fine_prompt", "semantic_prompt"]
        np.testing.assert_array_equal(saved["semantic_prompt"], voice.semantic_prompt)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.npz"]


def test_models_that_do_not_fit_bark_are_refused(models, tmp_path):
    from bark_vocos.testing import save_tiny_quantizer

    wrong = save_tiny_quantizer(tmp_path / "q.pth", output_size=100)
    with pytest.raises(ValueError, match="gives 100 semantic tokens, the Bark model has 64"):
        VoiceCloner.from_pretrained(
            hubert=models["hubert"], quantizer=wrong, encodec=models["encodec"], bark=models["bark"]
        )
    narrow = save_tiny_quantizer(tmp_path / "n.pth", input_size=16)
    with pytest.raises(ValueError, match="reads 16 features, HuBERT gives 32"):
        VoiceCloner.from_pretrained(
            hubert=models["hubert"], quantizer=narrow, encodec=models["encodec"], bark=models["bark"]
        )


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros((2, SR * 3), np.float32), "must be mono"),
        (np.full(SR * 3, np.nan, np.float32), "NaN"),
        (np.zeros(int(SR * (MAX_RECORDING_SECONDS + 1)), np.float32), "too long"),
    ],
)
def test_bad_audio_is_refused(cloner, audio, message):
    with pytest.raises(ValueError, match=message):
        cloner(audio, SR)


def _cli(models, recording, output, *extra):
    return main(
        ["voice", "clone", str(recording), "-o", str(output), "--hubert", str(models["hubert"]), "--quantizer",
         str(models["quantizer"]), "--encodec", str(models["encodec"]), "--bark", str(models["bark"]), *extra]
    )  # fmt: skip


def test_cli_writes_a_preset_that_say_uses(models, tmp_path, capsys):
    sf.write(tmp_path / "speech.flac", np.stack([_speech(8.0)] * 2, axis=1), SR)  # stereo
    assert _cli(models, tmp_path / "speech.flac", tmp_path / "myvoice.npz", "--start", "1", "--seconds", "4") == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"wrote {tmp_path / 'myvoice.npz'}: a voice from 1.00 to 5.00 s of")
    assert "199 semantic tokens, 300 frames of 8 codebooks" in out
    assert "has 2 channels: downmixed to mono" in err and "no one's voice" in err
    assert main(["say", "Hello", "-o", str(tmp_path / "hello.wav"), "--bark", str(models["bark"]), "--decoder",
                 "encodec", "--seed", "0", "--voice", str(tmp_path / "myvoice.npz"), "--no-progress"]) == 0  # fmt: skip
    assert sf.info(tmp_path / "hello.wav").frames > 0
    # the preset reaches Bark's stages: the same seed gives other codes than without a voice (the tiny Bark's own
    # EnCodec has untrained, all-zero codebooks, so its audio cannot tell them apart; its codes can)
    from pipelines import TextToWavPipeline

    pipe = TextToWavPipeline.from_pretrained(models["bark"], None)
    options = {"seed": 0, "decoder": "encodec", "progress": False}
    mine = pipe("Hello", voice_preset=tmp_path / "myvoice.npz", **options).codes
    assert not np.array_equal(mine, pipe("Hello", **options).codes)


def _bad_quantizers(tmp_path, tiny_bark_dir):
    import os

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(tmp_path / "code-ran"),)

    torch.save({"fc.weight": torch.zeros(2), "x": Payload()}, tmp_path / "evil.pth")
    from bark_vocos.hubert_quantizer import HubertQuantizer, HubertQuantizerConfig

    torch.save(HubertQuantizer(HubertQuantizerConfig(32, 8, 64, 1)).state_dict(), tmp_path / "shapes.pth")
    return {
        "bark": (tiny_bark_dir / "model.safetensors", "not a PyTorch zip checkpoint"),
        "bark folder": (tiny_bark_dir, "holds 0 .pth files"),
        "pickle": (tmp_path / "evil.pth", "not a plain state dict of tensors"),
        "shapes": (tmp_path / "shapes.pth", "no .info member, so version 0's sizes apply"),
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("silence", "the recording is silent"),
        ("short", "too short: 1.00 s"),
        ("too long", "too long: 601 s"),
        ("seconds", "seconds 20 is out of range"),
        ("not audio", "cannot read"),
        ("hub offline", "HF_HUB_OFFLINE is set"),
        ("quantizer hub offline", "HF_HUB_OFFLINE is set"),
        ("bark hub offline", "HF_HUB_OFFLINE is set"),
        ("quantizer bark", "not a PyTorch zip checkpoint"),
        ("quantizer bark folder", "holds 0 .pth files"),
        ("quantizer pickle", "not a plain state dict of tensors"),
        ("quantizer shapes", "no .info member, so version 0's sizes apply"),
    ],
)
def test_cli_errors_are_one_line_and_leave_no_file(models, tmp_path, capsys, monkeypatch, case, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recording, extra, options = tmp_path / "in.wav", [], dict(models)
    sf.write(recording, _speech(6.0), SR)
    if case == "silence":
        sf.write(recording, np.zeros(5 * SR), SR)
    elif case == "short":
        sf.write(recording, _speech(1.0), SR)
    elif case == "too long":
        sf.write(recording, np.zeros(601 * 8000, np.int16), 8000, subtype="PCM_16")
    elif case == "seconds":
        extra = ["--seconds", "20"]
    elif case == "not audio":
        recording.write_text("this is not audio\n")
    elif case == "hub offline":
        options["hubert"] = "nobody/no-such-hubert"
    elif case == "quantizer hub offline":
        options["quantizer"] = "nobody/no-such-quantizer/file.pth"
    elif case == "bark hub offline":
        options["bark"] = "nobody/no-such-bark"
    else:
        options["quantizer"] = _bad_quantizers(tmp_path, models["bark"])[case.removeprefix("quantizer ")][0]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _cli(options, recording, tmp_path / "voice.npz", *extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bark-vocos: error: ") and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no preset, no .part file
    assert not (tmp_path / "code-ran").exists()


def test_default_window_on_a_real_recording():
    """A DAPS clip beside the repository (read from there, never copied): the window holds mostly speech."""
    from pathlib import Path

    from pipelines.speech.voice_cloning import read_recording

    clip = Path(__file__).resolve().parents[1].parent / "shared/reference-audio/daps-resynthesis/gt"
    clip = clip / "f10_script1_cleanraw_trimmed_002.mp3"
    if not clip.is_file():
        pytest.skip(f"{clip} is not here")
    recording = read_recording(clip)
    duration = len(recording.audio) / recording.sampling_rate
    window = choose_window(recording.audio, recording.sampling_rate, max_seconds=7.33)
    assert window.seconds == pytest.approx(7.33) and window.start + window.seconds <= duration
    assert window.speech_seconds > 0.5 * window.seconds


def test_bounds_from_barks_generation_config_defaults():
    """transformers' Bark generation configs (the values suno's checkpoints ship): what each stage reads of a voice."""
    from transformers import GenerationConfig
    from transformers.models.bark.generation_configuration_bark import (
        BarkCoarseGenerationConfig,
        BarkFineGenerationConfig,
        BarkGenerationConfig,
        BarkSemanticGenerationConfig,
    )

    from bark_vocos.bark.orchestration import BarkGenerationConfigs
    from pipelines.speech.voice_cloning import HISTORY_MARGIN_SECONDS, VoiceBounds

    stages = (BarkSemanticGenerationConfig(), BarkCoarseGenerationConfig(), BarkFineGenerationConfig())
    assert (stages[0].max_input_semantic_length, stages[1].max_coarse_history) == (256, 630)
    assert stages[2].max_fine_history_length == 512
    config = BarkGenerationConfig(*(stage.to_dict() for stage in stages))
    configs = BarkGenerationConfigs.from_generation_config(GenerationConfig.from_dict(config.to_dict()))
    bounds = VoiceBounds.from_configs(configs, 24_000)
    assert bounds.history_seconds == pytest.approx({"semantic": 256 / 49.9, "coarse": 630 / 2 / 75, "fine": 512 / 75})
    assert bounds.max_seconds == pytest.approx(512 / 75 + HISTORY_MARGIN_SECONDS)
    assert (bounds.semantic_vocab_size, bounds.codebook_size, bounds.n_coarse, bounds.n_fine) == (10_000, 1024, 2, 8)
