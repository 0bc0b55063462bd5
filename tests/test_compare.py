"""Scoring mode of the comparison (files and folders, formats and rates, pairing errors), report.json and the
terminal table, and `bark-vocos compare` in-process; all on synthesised audio."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from synthetic_audio import ONE_DNSMOS_WINDOW_SECONDS, noise_burst, voiced_syllables

from pipelines import commands as cli
from pipelines.compare.report import format_table, write_report
from pipelines.compare.scoring import Comparison, ComparisonItem, compare_dirs, compare_files, score_item
from pipelines.io.audio_io import resample


def _write(path, audio, sampling_rate, **kwargs):
    sf.write(str(path), audio, sampling_rate, **kwargs)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 16 kHz wav reference, a clean copy as 44.1 kHz stereo MP3, a degraded copy as 48 kHz FLAC."""
    root = tmp_path_factory.mktemp("files")
    speech = voiced_syllables(16000)
    degraded = speech + noise_burst(speech.size, seed=5, level=0.01)
    stereo = np.stack([resample(speech, 16000, 44100)] * 2, axis=1)
    return {
        "reference": _write(root / "gt.wav", speech, 16000),
        "good": _write(root / "good.mp3", stereo, 44100, format="MP3"),
        "bad": _write(root / "bad.flac", resample(degraded, 16000, 48000), 48000),
    }


def test_files_in_any_format_and_rate_score_in_the_right_order(files):
    comparison = compare_files({"good": files["good"], "bad": files["bad"]}, reference=files["reference"])
    assert comparison.mode == "score" and comparison.sampling_rate == 24000
    assert comparison.metrics == [
        "pesq",
        "stoi",
        "si_sdr",
        "mr_stft",
        "mel",
        "dnsmos_sig",
        "dnsmos_bak",
        "dnsmos_ovrl",
        "dnsmos_p808",
    ]
    (item,) = comparison.items
    assert item.name == "gt"
    assert item.audio["reference"].shape == (3 * 24000,)
    good, bad = item.metrics["good"], item.metrics["bad"]
    assert good["pesq"] > 3.5 > bad["pesq"]  # an MP3 of the reference is close to transparent
    assert good["si_sdr"] > bad["si_sdr"] and good["mel"] < bad["mel"] and good["mr_stft"] < bad["mr_stft"]
    # The MP3 decoder's delay is undone by the lag search: the shift is small and the copy lines up.
    assert abs(item.lag_ms["good"]) < 5
    wins = comparison.wins()
    reference_wins = {metric: wins["good"][metric] for metric in ["pesq", "stoi", "si_sdr", "mr_stft", "mel"]}
    assert reference_wins == {"pesq": 1, "stoi": 1, "si_sdr": 1, "mr_stft": 1, "mel": 1}
    assert all(wins["bad"][metric] == 0 for metric in reference_wins)


def test_candidate_scored_against_itself_is_best_everywhere(files):
    comparison = compare_files({"same": files["reference"], "noise": files["bad"]}, reference=files["reference"])
    same = comparison.items[0].metrics["same"]
    assert same["pesq"] == pytest.approx(4.644, abs=0.01) and same["stoi"] == pytest.approx(1.0)
    assert same["mel"] == 0.0 and same["mr_stft"] == 0.0 and comparison.items[0].lag_ms["same"] == 0.0


def test_without_reference_no_reference_measures_and_no_winner_on_descriptive_ones(files):
    comparison = compare_files({"good": files["good"], "bad": files["bad"]})
    assert comparison.metrics == [
        "high_band_ratio",
        "spectral_flatness",
        "clipping_fraction",
        "rms_dbfs",
        "dnsmos_sig",
        "dnsmos_bak",
        "dnsmos_ovrl",
        "dnsmos_p808",
    ]
    item = comparison.items[0]
    assert item.lag_ms == {} and "reference" not in item.audio
    assert item.metrics["bad"]["spectral_flatness"] > item.metrics["good"]["spectral_flatness"]
    wins = comparison.wins()
    assert wins["good"]["clipping_fraction"] == wins["bad"]["clipping_fraction"] == 0
    assert comparison.ties()["clipping_fraction"] == 1  # neither clips: a tie, nobody wins
    assert set(wins["good"]) == {"clipping_fraction", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    for sub in ("gt", "enc", "voc"):
        (root / sub).mkdir()
    for index in range(2):
        speech = voiced_syllables(24000, seconds=2 * ONE_DNSMOS_WINDOW_SECONDS, seed=index)
        _write(root / "gt" / f"clip{index}.wav", speech, 24000)
        _write(root / "enc" / f"clip{index}.flac", speech + noise_burst(speech.size, seed=index, level=0.002), 24000)
        _write(root / "voc" / f"clip{index}.wav", speech + noise_burst(speech.size, seed=index, level=0.02), 24000)
    (root / "voc" / "notes.txt").write_text("not audio: ignored")
    return root


@pytest.fixture(scope="module")
def folder_comparison(folders):
    """The two candidate folders scored against the reference folder (what the next tests check, computed once)."""
    return compare_dirs({"enc": folders / "enc", "voc": folders / "voc"}, reference_dir=folders / "gt")


def test_folders_pair_by_name_without_extension(folders, folder_comparison):
    comparison = folder_comparison
    assert [item.name for item in comparison.items] == ["clip0", "clip1"]
    assert comparison.items[1].sources == {
        "reference": str(folders / "gt" / "clip1.wav"),
        "enc": str(folders / "enc" / "clip1.flac"),
        "voc": str(folders / "voc" / "clip1.wav"),
    }
    summary = comparison.summary()
    for metric in comparison.metrics:
        values = [item.metrics["enc"][metric] for item in comparison.items]
        assert summary["enc"][metric] == pytest.approx(np.mean(values))
    assert summary["enc"]["pesq"] > summary["voc"]["pesq"]
    assert comparison.wins()["enc"]["pesq"] == 2


def test_unmatched_names_are_listed(folders, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    _write(extra / "clip0.wav", voiced_syllables(24000, seconds=1.0), 24000)
    _write(extra / "stray.wav", voiced_syllables(24000, seconds=1.0), 24000)
    with pytest.raises(ValueError, match="unmatched file names") as error:
        compare_dirs({"enc": folders / "enc", "x": extra}, reference_dir=folders / "gt")
    message = str(error.value)
    assert f"{extra} lacks ['clip1']" in message and "lacks ['stray']" in message


def test_bad_candidate_names_and_missing_inputs(folders, files):
    with pytest.raises(ValueError, match="invalid candidate name 'reference'"):
        compare_files({"reference": files["good"]}, reference=files["reference"])
    with pytest.raises(ValueError, match="invalid candidate name 'a b'"):
        compare_files({"a b": files["good"]})
    with pytest.raises(FileNotFoundError, match="folder not found"):
        compare_dirs({"enc": folders / "missing"})
    with pytest.raises(ValueError, match="no audio files"):
        compare_dirs({"enc": folders.parent})  # holds only folders


def test_report_json_and_table(folder_comparison, tmp_path):
    comparison = folder_comparison
    paths = write_report(comparison, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert set(data["summary"]) == {"enc", "voc"}
    assert data["summary"]["enc"]["pesq"] == pytest.approx(comparison.summary()["enc"]["pesq"])
    assert [item["name"] for item in data["items"]] == ["clip0", "clip1"]
    assert data["items"][0]["voc"]["mel"] == pytest.approx(comparison.items[0].metrics["voc"]["mel"])
    assert data["wins"]["enc"]["pesq"] == 2 and data["ties"]["pesq"] == 0
    assert data["items"][0]["files"] == {}  # read from files: nothing re-written
    assert sorted(p.name for p in paths["json"].parent.iterdir()) == ["report.html", "report.json"]
    html = paths["html"].read_text()
    assert html.count("<audio") == 6 and html.count("data:image/png;base64,") == 3  # paired plots + 2 spectrograms
    table = format_table(comparison)
    pesq_line = next(line for line in table.splitlines() if line.startswith("PESQ"))
    assert f"{comparison.summary()['enc']['pesq']:.4f}*" in pesq_line and pesq_line.rstrip().endswith("2/0/0")


def test_generated_audio_is_written_as_wav(tmp_path):
    speech = voiced_syllables(24000, seconds=ONE_DNSMOS_WINDOW_SECONDS)
    item = score_item("t0", {"a": speech, "b": 0.5 * speech}, 24000)
    comparison = Comparison("text", 24000, ["a", "b"], ["high_band_ratio", "rms_dbfs"], [item], notes=["random"])
    paths = write_report(comparison, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["items"][0]["files"] == {"a": "t0_a.wav", "b": "t0_b.wav"}
    assert data["notes"] == ["random"]
    written, rate = sf.read(tmp_path / "t0_b.wav", dtype="float32")
    assert rate == 24000
    np.testing.assert_allclose(written, 0.5 * speech, atol=1e-7)
    assert isinstance(item, ComparisonItem)


def test_cli_scores_folders(folders, tmp_path, capsys):
    out = tmp_path / "report"
    code = cli.main(
        ["compare", "--reference-dir", str(folders / "gt"), "--candidate-dir", f"enc={folders / 'enc'}",
         "--candidate-dir", f"voc={folders / 'voc'}", "--out", str(out), "--max-lag-ms", "0"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 item(s)" in printed and "PESQ" in printed and str(out / "report.html") in printed
    data = json.loads((out / "report.json").read_text())
    assert data["settings"]["max_lag_ms"] == 0.0
    assert data["items"][0]["lag_ms"] == {"enc": 0.0, "voc": 0.0}


def test_cli_user_errors_are_one_line(files, folders, tmp_path, capsys):
    out = tmp_path / "never"
    code = cli.main(["compare", "--reference", str(files["reference"]), "--audio", "x.wav", "--out", str(out)])
    assert code == 1
    assert "choose exactly one mode" in capsys.readouterr().err
    code = cli.main(
        ["compare", "--reference-dir", str(folders / "gt"), "--candidate-dir", f"x={folders / 'gt' / 'clip0.wav'}",
         "--out", str(out)]
    )  # fmt: skip
    assert code == 1
    assert "folder not found" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["compare", "--candidate", "no-equals-sign", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "expected NAME=PATH" in capsys.readouterr().err


def test_cli_default_lag_matches_the_library():
    from pipelines.commands import compare as command
    from pipelines.compare import scoring

    assert command.DEFAULT_MAX_LAG_MS == scoring.DEFAULT_MAX_LAG_MS


def test_cli_as_a_process(files, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "compare", "--reference", str(files["reference"]),
         "--candidate", f"good={files['good']}", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["items"][0]["good"]["pesq"] > 3.5
    assert data["items"][0]["seconds"] == {"reference": 3.0, "good": pytest.approx(3.0, abs=0.01)}
    assert data["settings"]["dnsmos_seconds_per_10s_clip_2_threads"] > 0
    assert "DNSMOS of a 10 s clip on 2 threads:" in result.stdout
