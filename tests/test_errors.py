"""Bad input and faults (issue 12): one clear line, the right exit code, nothing existing changed, no temp file left.

CLI cases whose exit code and files matter run as real processes (`python -m pipelines`); the rest call
`pipelines.commands.main` in-process, which is the same code path minus the interpreter start.
"""

import json
import os
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from synthetic_audio import ONE_DNSMOS_WINDOW_SECONDS

from bark_vocos.testing import save_tiny_vocos
from pipelines import commands
from pipelines.commands import main
from pipelines.compare.report import format_table
from pipelines.compare.scoring import compare_files
from pipelines.speech.voice_presets import MAX_PRESET_VALUES, resolve_voice_preset

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ["v2/en_speaker_0", "v2/en_speaker_1"]


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`bark-vocos ARGS` as a real process (offline, no debug)."""
    env = {k: v for k, v in os.environ.items() if k != commands.DEBUG_ENV} | {"HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_error_line(err: str, *fragments: str) -> None:
    """`err` is exactly one `bark-vocos: error: ...` line holding every fragment (the bad value, the valid ones)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bark-vocos: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative name -> bytes): to compare before and after a failed command."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_no_temp_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.rglob("*") if ".part" in p.name]
    assert leftovers == [], leftovers


def _codes(path: Path, frames: int = 12, dtype=np.int64) -> Path:
    np.save(path, np.random.default_rng(0).integers(0, 1024, size=(8, frames)).astype(dtype))
    return path


def _preset(frames: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        "semantic_prompt": rng.integers(0, 64, size=10),
        "coarse_prompt": rng.integers(0, 1024, size=(2, frames)),
        "fine_prompt": rng.integers(0, 1024, size=(8, frames)),
    }


@pytest.fixture(scope="module")
def tiny_vocos(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("vocos") / "vocos", seed=0)


@pytest.fixture(scope="module")
def tiny_original(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("original") / "vocos", layout="original", seed=0)


# 1. make-tiny never overwrites, and leaves nothing behind on a bad seed or an interruption


def test_make_tiny_refuses_an_existing_checkpoint_folder(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"real weights")
    before = snapshot(tmp_path)
    result = run_cli("make-tiny", str(folder))
    assert result.returncode == 1
    assert_one_error_line(result.stderr, str(folder), "already exists and is not an empty folder")
    assert snapshot(tmp_path) == before
    assert_no_temp_files(tmp_path)


def test_make_tiny_bad_seed_writes_nothing(tmp_path, capsys):
    assert main(["make-tiny", str(tmp_path / "t"), "--seed", "-1"]) == 1
    assert_one_error_line(capsys.readouterr().err, "seed must be in [0, 2**64 - 1], got -1")
    assert list(tmp_path.iterdir()) == []


def test_make_tiny_interrupted_removes_what_it_wrote(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bark_vocos.tiny_bark.save_tiny_vocos", interrupted)  # after DIR/bark is complete
    assert main(["make-tiny", str(tmp_path / "t")]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "empty").mkdir()  # an empty folder given by the user stays, empty
    assert main(["make-tiny", str(tmp_path / "empty")]) == 130
    assert list((tmp_path / "empty").iterdir()) == []


def test_tiny_bark_is_marked_random_before_its_weights_are_written(tmp_path, monkeypatch):
    from transformers import BarkModel

    from bark_vocos.testing import save_tiny_bark

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(BarkModel, "save_pretrained", crash)
    with pytest.raises(OSError, match="disk full"):
        save_tiny_bark(tmp_path / "bark")
    assert (tmp_path / "bark" / "RANDOM_WEIGHTS.txt").is_file()


# 2. say checks every output before generating, and writes all outputs or none


def test_say_with_an_unwritable_voice_path_keeps_the_existing_wav(tiny_bark_dir, tmp_path):
    (tmp_path / "good.wav").write_bytes(b"an earlier take")
    before = snapshot(tmp_path)
    voice = str(tmp_path / "nodir" / "v.npz")
    result = run_cli("say", "Hello", "-o", str(tmp_path / "good.wav"), "--save-voice", voice,
                     "--bark", str(tiny_bark_dir), "--decoder", "encodec", "--no-progress")  # fmt: skip
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "output folder does not exist", str(tmp_path / "nodir"))
    assert snapshot(tmp_path) == before
    assert_no_temp_files(tmp_path)


def test_say_writes_both_outputs_or_neither(tiny_bark_dir, tmp_path, capsys, monkeypatch):
    from pipelines.speech.text_to_wav import TextToWavOutput

    (tmp_path / "good.wav").write_bytes(b"an earlier take")
    before = snapshot(tmp_path)

    def failing_preset(self, path):
        raise OSError(f"no space left on device: {path}")

    monkeypatch.setattr(TextToWavOutput, "save_voice_preset", failing_preset)
    args = ["say", "Hello", "-o", str(tmp_path / "good.wav"), "--save-voice", str(tmp_path / "v.npz"), "--bark",
            str(tiny_bark_dir), "--decoder", "encodec", "--no-progress", "--seed", "0"]  # fmt: skip
    assert main(args) == 1
    assert_one_error_line(capsys.readouterr().err, "no space left on device")
    assert snapshot(tmp_path) == before  # the wav was complete, but is not kept without the preset
    assert_no_temp_files(tmp_path)


# 14. (with the pipeline's drawn seed) say prints the seed it used and stores it in the file


def test_say_reports_and_stores_the_drawn_seed(tiny_bark_dir, tmp_path, capsys, monkeypatch):
    # the draw is pinned: with the tiny random model 1 seed in 40 (36 of 0-39) ends the text at its first token, and
    # its empty audio is refused; seed 7 speaks
    from pipelines import devices

    monkeypatch.setattr(devices.secrets, "randbelow", lambda bound: 7)
    common = ["say", "Hello", "--bark", str(tiny_bark_dir), "--decoder", "encodec", "--no-progress"]
    assert main([*common, "-o", str(tmp_path / "a.flac")]) == 0
    seed = int(capsys.readouterr().out.strip().rsplit("seed ", 1)[1])
    assert seed == 7
    with sf.SoundFile(tmp_path / "a.flac") as file:
        assert file.comment == f"bark-vocos seed {seed}"
    assert main([*common, "-o", str(tmp_path / "b.flac"), "--seed", str(seed)]) == 0
    assert f"seed {seed}" in capsys.readouterr().out
    assert sf.read(tmp_path / "a.flac")[0].tobytes() == sf.read(tmp_path / "b.flac")[0].tobytes()


def test_say_explains_a_take_with_no_audio(tiny_bark_dir, tmp_path, capsys):
    # with the tiny random model, seed 36 ends "Hello" at its first token
    args = ["say", "Hello", "--bark", str(tiny_bark_dir), "--decoder", "encodec", "--no-progress", "--seed", "36"]
    assert main([*args, "-o", str(tmp_path / "a.wav")]) == 1
    message = "bark-vocos: error: the generation has no audio: Bark ended the text at once (seed 36); try another seed"
    assert capsys.readouterr().err.strip() == message
    assert list(tmp_path.iterdir()) == []


# 4. compare: a repeated candidate name is refused, not silently dropped


def test_compare_refuses_a_repeated_candidate_name(tmp_path, capsys):
    for name in ("x.wav", "y.wav"):
        sf.write(tmp_path / name, np.sin(np.arange(4800) / 5.0).astype(np.float32), 24000)
    before = snapshot(tmp_path)
    args = ["compare", "--candidate", f"a={tmp_path / 'x.wav'}", "--candidate", f"a={tmp_path / 'y.wav'}"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 1
    assert_one_error_line(capsys.readouterr().err, "candidate names must be unique", "['a']")
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# 5. decode refuses float codes, as the Python API does


@pytest.mark.parametrize("values", [523.7, np.nan])
def test_decode_refuses_float_codes(tiny_vocos, tmp_path, capsys, values):
    np.save(tmp_path / "codes.npy", np.full((8, 10), values))
    (tmp_path / "out.wav").write_bytes(b"earlier")
    before = snapshot(tmp_path)
    assert (
        main(["decode", str(tmp_path / "codes.npy"), "-o", str(tmp_path / "out.wav"), "--vocoder", str(tiny_vocos)])
        == 1
    )
    assert_one_error_line(capsys.readouterr().err, "codes.npy holds float64 values", "integers from 0 to 1023")
    assert snapshot(tmp_path) == before


# 6. compare: a NaN or silent candidate is scored n/a with a note; reports are strict JSON and consistent


def _strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.mark.parametrize("kind", ["all-nan", "part-nan", "silent"])
def test_compare_scores_an_unusable_candidate_as_not_scored(tmp_path, capsys, kind):
    t = np.arange(int(24000 * ONE_DNSMOS_WINDOW_SECONDS)) / 24000
    clean = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    bad = {"all-nan": np.full_like(clean, np.nan), "part-nan": clean.copy(), "silent": np.zeros_like(clean)}[kind]
    bad[100:200] = np.nan if kind == "part-nan" else bad[100:200]
    sf.write(tmp_path / "ref.wav", clean, 24000, subtype="FLOAT")
    sf.write(tmp_path / "good.wav", clean + 0.01 * np.sin(2 * np.pi * 3000 * t), 24000, subtype="FLOAT")
    sf.write(tmp_path / "bad.wav", bad, 24000, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("an earlier report", encoding="utf-8")
    args = ["compare", "--reference", str(tmp_path / "ref.wav"), "--candidate", f"good={tmp_path / 'good.wav'}",
            "--candidate", f"bad={tmp_path / 'bad.wav'}", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "candidate 'bad' not scored" in printed and "n/a" in printed
    report = _strict_json(out / "report.json")
    assert all(value is None for value in report["summary"]["bad"].values())
    assert all(value is not None for value in report["summary"]["good"].values())
    assert any("'bad' not scored" in note for note in report["notes"])
    assert report["wins"]["good"]["mel"] == 1  # a scored candidate beats one that could not be scored
    assert "an earlier report" not in (out / "report.html").read_text(encoding="utf-8")
    assert_no_temp_files(tmp_path)


def test_compare_keeps_the_old_reports_when_rendering_fails(tmp_path, capsys, monkeypatch):
    tone = np.sin(np.arange(int(24000 * ONE_DNSMOS_WINDOW_SECONDS)) / 5.0).astype(np.float32)
    sf.write(tmp_path / "x.wav", tone, 24000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}", encoding="utf-8")
    (out / "report.html").write_text("old", encoding="utf-8")
    before = snapshot(tmp_path)

    def broken(comparison):
        raise ValueError("cannot render")

    monkeypatch.setattr("pipelines.compare.report.render_html", broken)
    assert main(["compare", "--candidate", f"a={tmp_path / 'x.wav'}", "--out", str(out)]) == 1
    assert_one_error_line(capsys.readouterr().err, "cannot render")
    assert snapshot(tmp_path) == before
    assert_no_temp_files(tmp_path)


def test_compare_refuses_a_nan_lag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--candidate", "a=x.wav", "--max-lag-ms", "nan", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "invalid --max-lag-ms 'nan': give a finite number of milliseconds >= 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# 7. SIGTERM during a write leaves no .part file


def test_sigterm_during_a_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"earlier")
    # a real `bark-vocos` process whose command is in the middle of an atomic write when the signal comes
    script = f"""
import sys, time
import pipelines.commands.make_tiny as command
from pipelines.commands import main
from pipelines.io.files import atomic_output

def run(args):
    with atomic_output({str(target)!r}) as tmp:
        tmp.write_bytes(b"half a file")
        print("writing", flush=True)
        time.sleep(60)

command.run = run
sys.exit(main(["make-tiny", "unused"]))
"""
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout.readline().strip() == "writing"
        assert any(".part" in p.name for p in tmp_path.iterdir())
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert err.strip() == "bark-vocos: terminated (no partial output kept)"
    assert snapshot(tmp_path) == {"out.wav": b"earlier"}


# 8. a voice preset .npz: only its three arrays are read, each size-checked before it is decompressed


def test_preset_with_extra_arrays_is_refused_without_decompressing_them(tmp_path, monkeypatch):
    path = tmp_path / "voice.npz"
    np.savez_compressed(path, **_preset(), big=np.zeros(50_000_000, dtype=np.int8))  # 50 MB, a few kB packed
    opened = []
    real_open = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    with pytest.raises(ValueError, match=r"unexpected \['big'\], not read"):
        resolve_voice_preset(path, PRESETS)
    assert opened == []


def test_preset_with_an_oversized_array_is_refused_from_its_header(tmp_path):
    frames = MAX_PRESET_VALUES // 8 + 1
    preset = {
        **_preset(),
        "coarse_prompt": np.zeros((2, frames), np.int64),
        "fine_prompt": np.zeros((8, frames), np.int64),
    }
    np.savez_compressed(tmp_path / "voice.npz", **preset)
    with pytest.raises(ValueError, match=rf"'fine_prompt'.* over the limit|more than the limit of {MAX_PRESET_VALUES}"):
        resolve_voice_preset(tmp_path / "voice.npz", PRESETS)


def test_preset_with_pickled_arrays_is_refused(tmp_path):
    preset = {**_preset(), "semantic_prompt": np.array([1, "x"], dtype=object)}
    np.savez(tmp_path / "voice.npz", **preset, allow_pickle=True)
    with pytest.raises(ValueError, match=r"'semantic_prompt' holds Python objects \(a pickle\), refused"):
        resolve_voice_preset(tmp_path / "voice.npz", PRESETS)


# 10. one line instead of a traceback


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"coarse_prompt": np.full((2, 6), 5000)}, "'coarse_prompt' holds values from 5000 to 5000, outside"),
        ({"semantic_prompt": np.array([-1, 3])}, "'semantic_prompt' holds values from -1 to 3, outside the valid 0 to"),
        ({"fine_prompt": np.zeros((4, 6), np.int64)}, "must be (2, T) and (8, T) with the same T"),
        ({"fine_prompt": np.zeros((8, 5), np.int64)}, "must be (2, T) and (8, T) with the same T"),
        ({"semantic_prompt": np.zeros(0, np.int64)}, "'semantic_prompt' must be a 1-D integer array, not empty"),
    ],
)  # fmt: skip
def test_malformed_preset_arrays_are_named(tmp_path, change, message):
    with pytest.raises(ValueError) as caught:
        resolve_voice_preset({**_preset(), **change}, PRESETS)
    assert message in str(caught.value)
    np.savez(tmp_path / "voice.npz", **{**_preset(), **change})
    with pytest.raises(ValueError, match="voice.npz"):
        resolve_voice_preset(tmp_path / "voice.npz", PRESETS)
    assert resolve_voice_preset(_preset(), PRESETS, semantic_vocab_size=64)["semantic_prompt"].max() < 64


def test_say_with_a_malformed_preset_file_is_one_line(tiny_bark_dir, tmp_path, capsys):
    np.savez(tmp_path / "voice.npz", **{**_preset(), "fine_prompt": np.full((8, 6), 7000)})
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("not numpy at all", encoding="utf-8")
    before = snapshot(tmp_path)
    common = ["say", "Hi", "-o", str(tmp_path / "x.wav"), "--bark", str(tiny_bark_dir), "--decoder", "encodec",
              "--no-progress"]  # fmt: skip
    assert main([*common, "--voice", str(tmp_path / "voice.npz")]) == 1
    assert_one_error_line(capsys.readouterr().err, "voice.npz: 'fine_prompt' holds values from 7000", "0 to 1023")
    assert main([*common, "--voice", str(tmp_path / "empty.npz")]) == 1
    assert_one_error_line(capsys.readouterr().err, "empty.npz is empty: not a .npz archive")
    assert main([*common, "--voice", str(tmp_path / "text.npz")]) == 1  # 11: not "contains pickled data"
    assert_one_error_line(capsys.readouterr().err, "text.npz is not a .npz archive")
    assert main([*common, "--voice", ""]) == 1  # 11: not PosixPath('.')
    assert_one_error_line(capsys.readouterr().err, "voice preset is empty", "--list-voices")
    assert snapshot(tmp_path) == before


def test_decode_damaged_inputs_are_one_line(tiny_vocos, tiny_original, tmp_path, capsys):
    import shutil

    out = tmp_path / "out.wav"
    (tmp_path / "empty.npy").write_bytes(b"")
    codes = _codes(tmp_path / "codes.npy")
    cut = shutil.copytree(tiny_vocos, tmp_path / "cut")
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    cut_bin = shutil.copytree(tiny_original, tmp_path / "cut_bin")
    data = (cut_bin / "pytorch_model.bin").read_bytes()
    (cut_bin / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    bad_yaml = shutil.copytree(tiny_original, tmp_path / "bad_yaml")
    with open(bad_yaml / "config.yaml", "a", encoding="utf-8") as file:
        file.write("\n  oops: [unclosed\n")
    python_tag = shutil.copytree(tiny_original, tmp_path / "python_tag")
    (python_tag / "config.yaml").write_text("x: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    pickled = shutil.copytree(tiny_original, tmp_path / "pickled")
    torch.save({"x": Path("a")}, pickled / "pytorch_model.bin")  # a pickle weights_only refuses
    before = snapshot(tmp_path)
    cases = [
        ([str(tmp_path / "empty.npy")], [str(tiny_vocos)], ["empty.npy is empty or cut short"]),
        ([str(codes)], [str(cut)], ["cut/model.safetensors is damaged or cut short"]),
        ([str(codes)], [str(cut_bin)], ["cut_bin/pytorch_model.bin is damaged or cut short"]),
        ([str(codes)], [str(bad_yaml)], ["bad_yaml/config.yaml is not valid YAML"]),
        ([str(codes)], [str(python_tag)], ["python_tag/config.yaml is not valid YAML", "python/object"]),
        ([str(codes)], [str(pickled)], ["refused: the file holds pickled Python objects"]),
    ]
    for codes_arg, vocoder, fragments in cases:
        assert main(["decode", *codes_arg, "-o", str(out), "--vocoder", *vocoder]) == 1
        assert_one_error_line(capsys.readouterr().err, *fragments)
    assert snapshot(tmp_path) == before
    assert_no_temp_files(tmp_path)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--pause", "inf"], "--pause inf is out of range: give seconds from 0 to 60"),
        (["--pause", "1e6"], "--pause 1000000.0 is out of range"),
        (["--pause", "nan"], "--pause nan is out of range"),
        (["--seed", str(2**70)], f"--seed {2**70} is out of range: give an integer from 0 to 2**64-1"),
        (["--max-chunk-tokens", "0"], "--max-chunk-tokens 0 is out of range: use 1 to 256"),
        (["--batch-size", "0"], "--batch-size 0 is out of range: use 1 or more"),
    ],
)
def test_say_settings_are_checked_before_any_model_loads(tmp_path, capsys, option, message):
    # --bark names a folder that does not exist: the setting must be refused before anything is loaded
    args = ["say", "Hi", "-o", str(tmp_path / "x.wav"), "--bark", str(tmp_path / "no-bark"), *option]
    assert main(args) == 1
    assert_one_error_line(capsys.readouterr().err, message)
    assert list(tmp_path.iterdir()) == []


# 11. messages that say what is wrong


def test_model_folder_messages(tiny_bark_dir, tiny_vocos, tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)  # "tiny/bark" below names no folder here (`make say-tiny` makes one in the checkout)
    common = ["say", "Hi", "-o", str(tmp_path / "x.wav"), "--decoder", "encodec", "--no-progress", "--bark"]
    cases = [
        (str(tmp_path / "missing" / "bark"), ["Bark model folder not found", "no such path", "not a hub id"]),
        ("tiny/bark", ["cannot load Bark model 'tiny/bark': there is no local folder of that name", "check the path"]),
        (str(tiny_vocos), ["holds a 'vocos_encodec' model, not a Bark model ('bark')"]),
        (str(tmp_path / "empty"), ["is not a Bark model folder: it has no config.json"]),
    ]
    for bark, fragments in cases:
        assert main([*common, bark]) == 1
        err = capsys.readouterr().err
        assert_one_error_line(err, *fragments)
        assert "sentencepiece" not in err and "tiktoken" not in err and "Repo id" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_output_and_text_file_messages(tiny_bark_dir, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    common = ["--bark", str(tiny_bark_dir), "--decoder", "encodec"]
    assert main(["say", "Hi", "-o", str(tmp_path / "o" / ".wav"), *common]) == 1
    assert_one_error_line(capsys.readouterr().err, "output file name '.wav' is only an extension", "out.wav")
    assert main(["say", "--text-file", str(tmp_path / "latin1.txt"), "-o", str(tmp_path / "x.wav"), *common]) == 1
    assert_one_error_line(capsys.readouterr().err, f"--text-file {tmp_path / 'latin1.txt'} is not UTF-8", "0xe9")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latin1.txt", "o"]


# 13. convert writes a folder others can read


def test_convert_writes_a_folder_with_the_usual_permissions(tiny_original, tmp_path, capsys):
    previous = os.umask(0o022)
    try:
        assert main(["convert", str(tiny_original), str(tmp_path / "converted")]) == 0
    finally:
        os.umask(previous)
    assert (tmp_path / "converted").stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in (tmp_path / "converted").iterdir())


def test_convert_checkpoint_in_python_gives_the_usual_permissions_too(tiny_original, tmp_path):
    from bark_vocos.vocos.modeling_vocos_encodec import convert_checkpoint

    previous = os.umask(0o022)
    try:
        folder = convert_checkpoint(tiny_original, tmp_path / "converted")
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir() if p.is_file())


# 15. help and output


def test_help_shows_what_is_required_and_the_real_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["say", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "say (TEXT | --text-file FILE) -o OUTPUT [options]" in text
    assert "(default: the dtype the checkpoints were saved in)" in text and "float32 (default)" not in text
    assert "1 to 256 (default: 48)" in text and "1 or more (default: 4)" in text
    assert "0 to 60 (default: 0.2)" in text and "0 to 2**64-1" in text
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    assert "output .wav or .flac (required)" in " ".join(capsys.readouterr().out.split())


def test_third_party_deprecations_are_hidden_ours_are_shown(monkeypatch, recwarn):
    def run(args):
        warnings.warn_explicit("old transformers API", DeprecationWarning, "x.py", 1, module="transformers.x")
        warnings.warn_explicit("old torch API", FutureWarning, "y.py", 1, module="torch.y")
        warnings.warn_explicit("torch.ao is deprecated", DeprecationWarning, "f.py", 1, module="bark_vocos.bark.fast")
        warnings.warn_explicit("x() is deprecated", UserWarning, "u.py", 1, module="torch.ao.nn.quantized.utils")
        warnings.warn_explicit("bark-vocos: our old option", DeprecationWarning, "z.py", 1, module="pipelines.z")
        return 0

    monkeypatch.setattr("pipelines.commands.make_tiny.run", run)
    assert main(["make-tiny", "unused"]) == 0
    assert [str(w.message) for w in recwarn] == ["bark-vocos: our old option"]
    assert main(["--debug", "make-tiny", "unused"]) == 0  # --debug shows everything
    assert len(recwarn) == 1 + 5


def test_output_symlink_is_written_through(tiny_vocos, tmp_path, capsys):
    target = tmp_path / "takes" / "take1.wav"
    target.parent.mkdir()
    target.write_bytes(b"earlier")
    link = tmp_path / "latest.wav"
    link.symlink_to(target)
    assert main(["decode", str(_codes(tmp_path / "codes.npy")), "-o", str(link), "--vocoder", str(tiny_vocos)]) == 0
    assert link.is_symlink() and link.resolve() == target.resolve()
    audio, sampling_rate = sf.read(target)
    assert sampling_rate == 24000 and audio.shape == (12 * 320,)
    assert "random weights" in capsys.readouterr().err
    assert_no_temp_files(tmp_path)


def test_report_title_uses_the_candidates_names(tmp_path):
    tone = np.sin(np.arange(int(24000 * ONE_DNSMOS_WINDOW_SECONDS)) / 5.0).astype(np.float32)
    sf.write(tmp_path / "x.wav", tone, 24000)
    comparison = compare_files({"studio": tmp_path / "x.wav", "phone": tmp_path / "x.wav"})
    assert format_table(comparison).splitlines()[0] == "studio vs phone: scoring existing files, 1 item(s)"


# 9. decode's size limit, checked from the .npy header before anything is loaded


def test_decode_refuses_too_long_codes_before_loading(tmp_path, capsys, monkeypatch):
    from pipelines.commands.decode import MAX_DECODE_FRAMES

    path = tmp_path / "long.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.int16, shape=(8, MAX_DECODE_FRAMES + 1))  # header + zeros
    monkeypatch.setattr("bark_vocos.VocosEncodecModel.from_pretrained", lambda *a, **k: pytest.fail("loaded"))
    assert main(["decode", str(path), "-o", str(tmp_path / "out.wav"), "--vocoder", "unused/vocos"]) == 1
    assert_one_error_line(capsys.readouterr().err, f"holds {MAX_DECODE_FRAMES + 1} frames", "at most 45000 frames")
    assert main(["decode", str(path), "-o", str(tmp_path / "missing" / "out.wav"), "--vocoder", "x/y"]) == 1
    assert_one_error_line(capsys.readouterr().err, "output folder does not exist")  # checked first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]


# one place for every expected failure; --debug and BARK_VOCOS_DEBUG show the traceback; bugs keep theirs


def test_debug_shows_the_traceback_and_bugs_keep_theirs(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "f.npy", np.zeros((8, 3)))
    args = ["decode", str(tmp_path / "f.npy"), "-o", str(tmp_path / "o.wav")]
    with pytest.raises(ValueError, match="float64 values"):
        main(["--debug", *args])
    with pytest.raises(ValueError, match="float64 values"):
        main([*args, "--debug"])
    monkeypatch.setenv(commands.DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="float64 values"):
        main(args)
    monkeypatch.delenv(commands.DEBUG_ENV)

    def bug(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr("pipelines.commands.decode.run", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(args)
    assert capsys.readouterr().err == ""
