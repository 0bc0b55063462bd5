"""The machine's tuning record (`bark_vocos.tuning`): where it lives, what a save keeps, and two real processes with
the same seed giving the same bytes once the record is filled (`bark-vocos tune`), sampling on, both engines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bark_vocos.choices import CHOICES, LinearKey
from bark_vocos.settings import override
from bark_vocos.tuning import load_record, record_path, save_record

ROOT = Path(__file__).resolve().parents[1]


def test_the_record_lives_in_the_users_cache_unless_told(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with override(tuning_record=None):
        assert record_path() == tmp_path / "cache" / "bark-vocos" / "tuning.json"
    with override(tuning_record=str(tmp_path / "mine.json")):
        assert record_path() == tmp_path / "mine.json"
    with override(tuning_record="off"):
        assert record_path() is None and save_record() is False and load_record() == 0
    with pytest.raises(ValueError, match="BARK_VOCOS_TUNING_RECORD='' is not a file path"):
        override(tuning_record="").__enter__()


def test_a_save_keeps_what_another_process_added_and_writes_only_what_is_new(tmp_path):
    path = tmp_path / "tuning.json"
    ours, theirs = LinearKey(1, 8, 8, False, False, 1), LinearKey(2, 8, 8, False, False, 1)
    with override(tuning_record=str(path)):
        CHOICES.reset()
        CHOICES["linear"].record(theirs, "aten")
        CHOICES.save(path)  # another process's record
        CHOICES.reset()
        assert load_record() == 1 and CHOICES["linear"].choices == {theirs: "aten"}
        assert save_record() is False  # nothing new: the file is not rewritten
        CHOICES.reset()  # this process forgets theirs, then measures its own
        CHOICES["linear"].record(ours, "onednn")
        assert save_record() is True
        saved = {tuple(entry["key"].values()): entry["choice"] for entry in json.loads(path.read_text())["choices"]}
        assert saved == {tuple(ours): "onednn", tuple(theirs): "aten"}
        assert CHOICES["linear"].choices == {ours: "onednn"}  # a save never changes this process's choices


def test_an_unwritable_record_warns_once_and_the_run_goes_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with override(tuning_record=str(blocker / "tuning.json")):
        CHOICES["linear"].record(LinearKey(3, 8, 8, False, False, 1), "aten")
        with pytest.warns(UserWarning, match="could not write the tuning record"):
            assert save_record() is False
        assert save_record() is False  # no second warning for the same choices


def _bark_vocos(*args, record: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "BARK_VOCOS_TUNING_RECORD": str(record), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_two_processes_give_the_same_bytes_once_the_machine_is_tuned(tiny_dir, tmp_path):
    record = tmp_path / "tuning.json"
    models = ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
    tuned = _bark_vocos("tune", *models, "--threads", "1", "--no-progress", record=record, cwd=tmp_path)
    assert tuned.returncode == 0, tuned.stderr
    assert f"tuning record {record}" in tuned.stdout and "exact:" in tuned.stdout and "fast:" in tuned.stdout
    kinds = {entry["kind"] for entry in json.loads(record.read_text())["choices"]}
    assert {"linear", "decode_engine"} <= kinds
    for engine in ("exact", "fast"):
        files = []
        for take in ("a", "b"):  # sampling on (the default), the same seed, two fresh processes
            out = tmp_path / f"{engine}-{take}.wav"
            said = _bark_vocos("say", "Hello, my dog is cute.", "-o", str(out), *models, "--engine", engine,
                               "--seed", "7", "--voice", "v2/en_speaker_0", "--no-progress", record=record,
                               cwd=tmp_path)  # fmt: skip
            assert said.returncode == 0, said.stderr
            files.append(out.read_bytes())
            if take == "a":
                filled = record.read_bytes()
        assert files[0] == files[1]
        assert record.read_bytes() == filled  # the second process measured nothing: it read every choice
    off = _bark_vocos("--no-tuning-cache", "tune", *models, record=record, cwd=tmp_path)
    assert off.returncode == 1 and off.stderr.strip().startswith("bark-vocos: error: nothing to tune into")
