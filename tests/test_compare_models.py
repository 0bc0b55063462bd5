"""Resynthesis and text modes of the comparison on tiny random checkpoints saved to disk (the audio is noise: these
tests check the plumbing, shapes, determinism and labelling, never quality)."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from synthetic_audio import voiced_syllables

from bark_vocos.testing import AUDIO_TOKENIZER_FOLDER
from pipelines import commands as cli
from pipelines.compare.resynthesis import compare_resynthesis, decode_both


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """DIR/bark and DIR/vocos (make_tiny: random weights), whose EnCodec is DIR/vocos/audio_tokenizer (the codebooks
    the vocoder embeds), and DIR/speech.wav, 1.5 s of speech-like audio at 16 kHz."""
    from bark_vocos.testing import make_tiny

    root = tmp_path_factory.mktemp("tiny")
    make_tiny(root)
    sf.write(root / "speech.wav", voiced_syllables(16000, seconds=1.5), 16000)  # resampled to 24 kHz when read
    return root


@pytest.fixture(scope="module")
def models(checkpoints):
    from transformers import EncodecModel

    from bark_vocos import VocosEncodecModel

    return EncodecModel.from_pretrained(
        checkpoints / "vocos" / AUDIO_TOKENIZER_FOLDER
    ).eval(), VocosEncodecModel.from_pretrained(checkpoints / "vocos").eval()


@pytest.mark.parametrize("bandwidth, codebooks", [(1.5, 2), (12.0, 16)])
def test_decode_both_gives_frames_times_320_samples(models, bandwidth, codebooks):
    codec, vocoder = models
    codes = torch.randint(0, 1024, (codebooks, 10), generator=torch.Generator().manual_seed(0))
    decoded = decode_both(codes, codec, vocoder, bandwidth)
    assert set(decoded) == {"encodec", "vocos"}
    assert all(audio.shape == (3200,) and audio.dtype == np.float32 for audio in decoded.values())
    np.testing.assert_array_equal(decode_both(codes, codec, vocoder, bandwidth)["vocos"], decoded["vocos"])
    with pytest.raises(ValueError, match=f"expected codes of shape \\({codebooks}, frames\\)"):
        decode_both(codes[:1], codec, vocoder, bandwidth)


def test_resynthesis_scores_both_decoders_against_the_input_api_and_cli(models, checkpoints, tmp_path, capsys):
    codec, vocoder = models
    comparison = compare_resynthesis([checkpoints / "speech.wav"], codec, vocoder, bandwidth=1.5)
    assert comparison.mode == "resynthesis" and comparison.candidates == ["encodec", "vocos"]
    (item,) = comparison.items
    assert item.name == "speech"
    assert {role: audio.shape for role, audio in item.audio.items()} == {
        "reference": (36000,),
        "encodec": (36000,),
        "vocos": (36000,),
    }
    for candidate in ("encodec", "vocos"):
        assert set(item.metrics[candidate]) == {
            "pesq",
            "stoi",
            "si_sdr",
            "mr_stft",
            "mel",
            "dnsmos_sig",
            "dnsmos_bak",
            "dnsmos_ovrl",
            "dnsmos_p808",
        }
        assert all(np.isfinite(list(item.metrics[candidate].values())))
        assert 1.0 <= item.metrics[candidate]["pesq"] <= 4.65
    assert item.codes.shape == (2, 113)  # 1.5 kbps: 2 codebooks, ceil(1.5 s * 75) frames
    with pytest.raises(ValueError, match="bandwidth"):
        compare_resynthesis([checkpoints / "speech.wav"], codec, vocoder, bandwidth=5.0)
    # The command line loads the same checkpoints from disk and must measure the same numbers (deterministic).
    out, encodec = tmp_path / "resynth", checkpoints / "vocos" / AUDIO_TOKENIZER_FOLDER
    code = cli.main(
        ["compare", "--audio", str(checkpoints / "speech.wav"), "--bandwidth", "1.5", "--encodec", str(encodec),
         "--vocoder", str(checkpoints / "vocos"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    data = json.loads((out / "report.json").read_text())
    assert data["items"][0]["vocos"] == item.metrics["vocos"] and data["items"][0]["encodec"] == item.metrics["encodec"]
    np.testing.assert_array_equal(np.load(out / "speech_codes.npy"), item.codes)
    captured = capsys.readouterr()
    assert "NOTE: " + str(checkpoints / "vocos") + " holds RANDOM weights" in captured.out  # above the table
    assert len(data["notes"]) == 1 and data["settings"]["bandwidth_kbps"] == 1.5
    assert data["items"][0]["files"] == {
        "encodec": "speech_encodec.wav",
        "vocos": "speech_vocos.wav",
        "codes": "speech_codes.npy",
    }
    assert "RANDOM weights" in (out / "report.html").read_text()
    written, rate = sf.read(out / "speech_vocos.wav")
    assert rate == 24000 and written.shape == (36000,)


def test_cli_text_decodes_the_same_codes_both_ways(checkpoints, tmp_path, capsys):
    from pipelines import TextToWavPipeline

    out = tmp_path / "text"
    code = cli.main(
        ["compare", "--text", "Hello my dog", "--bark", str(checkpoints / "bark"),
         "--vocoder", str(checkpoints / "vocos"), "--seed", "3", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.count("holds RANDOM weights") == 2  # bark and vocos
    data = json.loads((out / "report.json").read_text())
    assert data["mode"] == "text" and data["candidates"] == ["encodec", "vocos"]
    assert set(data["summary"]["vocos"]) == {
        "high_band_ratio",
        "spectral_flatness",
        "clipping_fraction",
        "rms_dbfs",
        "dnsmos_sig",
        "dnsmos_bak",
        "dnsmos_ovrl",
        "dnsmos_p808",
    }
    vocos_audio, _ = sf.read(out / "text00_vocos.wav", dtype="float32")
    encodec_audio, _ = sf.read(out / "text00_encodec.wav", dtype="float32")
    assert vocos_audio.shape == encodec_audio.shape and vocos_audio.size % 320 == 0
    # Both wavs come from the one set of codes written beside them.
    codes = torch.as_tensor(np.load(out / "text00_codes.npy"))
    assert codes.shape == (8, vocos_audio.size // 320)
    pipeline = TextToWavPipeline.from_pretrained(bark=checkpoints / "bark", vocoder=checkpoints / "vocos")
    np.testing.assert_allclose(pipeline.decode(codes, "encodec"), encodec_audio, atol=1e-6)
    np.testing.assert_allclose(pipeline.decode(codes, "vocos"), vocos_audio, atol=1e-6)


def test_builtin_prompts_and_prompt_files(tmp_path):
    from pipelines.compare.text import read_prompts

    prompts = read_prompts("builtin")
    assert len(prompts) == 20 and len(set(prompts)) == 20
    assert any(p.endswith("?") for p in prompts) and any("[laughs]" in p for p in prompts)
    assert min(map(len, prompts)) < 20 < 80 < max(map(len, prompts))  # short and long ones
    (tmp_path / "p.txt").write_text("one\n\n  two  \n", encoding="utf-8")
    assert read_prompts(tmp_path / "p.txt") == ["one", "two"]
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="no prompts"):
        read_prompts(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="prompt file not found"):
        read_prompts(tmp_path / "missing.txt")


def test_candidate_names_for_engines_and_decoders():
    from pipelines.compare.text import candidate_names

    assert list(candidate_names(["exact"], ["vocos", "encodec"]).values()) == ["encodec", "vocos"]
    assert candidate_names(["exact", "fast"], ["vocos"]) == {("exact", "vocos"): "exact", ("fast", "vocos"): "fast"}
    assert list(candidate_names(["exact", "fast"], ["encodec", "vocos"]).values()) == [
        "exact.encodec",
        "exact.vocos",
        "fast.encodec",
        "fast.vocos",
    ]
    with pytest.raises(ValueError, match="transformers, exact, fast"):
        candidate_names(["slow"], ["vocos"])
    with pytest.raises(ValueError, match="distinct"):
        candidate_names(["exact", "exact"], ["vocos"])


def test_engines_get_the_same_prompts_and_seeds(checkpoints):
    from pipelines import TextToWavPipeline
    from pipelines.compare.text import compare_text

    pipeline = TextToWavPipeline.from_pretrained(bark=checkpoints / "bark", vocoder=checkpoints / "vocos")
    pipeline.set_progress_bar_config(disable=True)
    own = pipeline.stages
    comparison = compare_text(
        ["Hello", "Good morning"], pipeline, seed=5, seeds=3, engines=["exact", "transformers"], decoders=["vocos"]
    )
    assert pipeline.stages is own  # restored
    assert comparison.candidates == ["exact", "transformers"]
    assert [item.name for item in comparison.items] == [f"text0{i}-s{j}" for j in range(3) for i in range(2)]
    assert comparison.settings["engines"] == ["exact", "transformers"] and comparison.settings["seeds"] == 3
    for item in comparison.items:
        # the exact engine makes the transformers engine's codes from the same prompt and seed: the same audio
        np.testing.assert_array_equal(item.codes["exact"], item.codes["transformers"])
        np.testing.assert_allclose(item.audio["exact"], item.audio["transformers"], atol=1e-6)
        assert item.codes["exact"].shape[0] == 8 and item.audio["exact"].size == 320 * item.codes["exact"].shape[1]
        assert {"dnsmos_ovrl", "high_band_ratio"} <= set(item.metrics["exact"])
    # different seeds give different codes
    assert not np.array_equal(comparison.items[0].codes["exact"], comparison.items[2].codes["exact"])
    assert len(comparison.verdicts()) == 5  # one pair, the metrics with a direction (clipping and DNSMOS)


def test_cli_text_file_seeds_engines_and_decoders(checkpoints, tmp_path, capsys):
    (tmp_path / "prompts.txt").write_text("Hello my dog\nIs it raining?\n", encoding="utf-8")
    out = tmp_path / "engines"
    code = cli.main(
        ["compare", "--text-file", str(tmp_path / "prompts.txt"), "--seeds", "2", "--engines", "exact", "fast",
         "--bark", str(checkpoints / "bark"), "--vocoder", str(checkpoints / "vocos"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("holds RANDOM weights") == 2
    assert printed.count("VERDICT: ") == 6 * 5  # 4 candidates: 6 pairs, 5 metrics with a direction
    data = json.loads((out / "report.json").read_text())
    assert data["candidates"] == ["exact.encodec", "exact.vocos", "fast.encodec", "fast.vocos"]
    assert [item["name"] for item in data["items"]] == ["text00-s0", "text01-s0", "text00-s1", "text01-s1"]
    files = data["items"][0]["files"]
    assert files["codes_exact"] == "text00-s0_exact_codes.npy" and files["codes_fast"] == "text00-s0_fast_codes.npy"
    exact, fast = np.load(out / files["codes_exact"]), np.load(out / files["codes_fast"])
    assert exact.shape[0] == fast.shape[0] == 8
    vocos, _ = sf.read(out / "text00-s0_exact.vocos.wav", dtype="float32")
    assert vocos.size == 320 * exact.shape[1]
    with pytest.raises(SystemExit):
        cli.main(["compare", "--text", "x", "--seeds", "0", "--out", str(tmp_path / "bad")])
    assert "invalid count '0'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
