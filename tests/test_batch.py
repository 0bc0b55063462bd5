"""Batch jobs: JOBS files, the manifest, resuming (after SIGINT/SIGKILL of a real process, corrupt files), failures."""

import dataclasses
import hashlib
import json
import signal
from pathlib import Path

import numpy as np
import pytest
from batch_helpers import WORDS, manifest_entries, settings, start_batch, write_jsonl

from pipelines import TextToWavPipeline
from pipelines.batch import JobRow, read_jobs, row_seed, run_batch
from pipelines.batch.manifest import Manifest
from pipelines.commands import main
from pipelines.io.audio_io import read_audio


def _rows(count: int) -> list[dict]:
    """`count` rows of 1 to 12 words, every third with an explicit voice, every fifth with an explicit seed."""
    rows = []
    for index in range(count):
        row = {"id": f"r{index:03d}", "text": " ".join(WORDS[(index + k) % len(WORDS)] for k in range(1 + index % 12))}
        if index % 3 == 0:
            row["voice"] = "v2/en_speaker_1"
        if index % 5 == 0:
            row["seed"] = 1000 + index
        rows.append(row)
    return rows


def _files(out_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out_dir.iterdir()) if path.suffix in (".wav", ".flac")}


def _temporary_files(out_dir: Path) -> list[str]:
    return [path.name for path in out_dir.iterdir() if ".part" in path.name]


# --- JOBS files --------------------------------------------------------------------------------------------------


def test_read_jobs_formats(tmp_path):
    jsonl = write_jsonl(
        tmp_path / "jobs.jsonl",
        [{"id": "a", "text": "Hello", "voice": "v2/en_speaker_0", "seed": 7, "speaker": "x"}, {"id": 2, "text": "Hi"}],
    )
    rows = read_jobs(jsonl)
    assert [(r.id, r.text, r.voice, r.seed, r.line, r.extra) for r in rows] == [
        ("a", "Hello", "v2/en_speaker_0", 7, 1, {"speaker": "x"}),
        ("2", "Hi", None, None, 2, {}),
    ]
    csv_file = tmp_path / "jobs.csv"
    csv_file.write_text('id,text,seed,decoder,book\na,"Hello, there\nsecond line",3,encodec,b1\nb,Hi,,,b2\n')
    rows = read_jobs(csv_file)
    assert [(r.id, r.text, r.seed, r.decoder, r.extra) for r in rows] == [
        ("a", "Hello, there\nsecond line", 3, "encodec", {"book": "b1"}),
        ("b", "Hi", None, None, {"book": "b2"}),
    ]
    text = tmp_path / "lines.txt"
    text.write_text("First line.\n\n  Third line.  \n")
    expected = [("000001", "First line.", 1), ("000003", "Third line.", 3)]
    assert [(r.id, r.text, r.line) for r in read_jobs(text)] == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("j.csv", "name,text\na,Hello\n", "j.csv line 1: no 'id' column (columns: name, text)"),
        ("j.csv", "id,words\na,Hello\n", "j.csv line 1: no 'text' column"),
        ("j.jsonl", '{"id": "a", "text": "x"}\n{"id": "b"}\n', "j.jsonl line 2: no 'text' field"),
        ("j.jsonl", '{"id": "a", "text": "x"}\n\n{"id": "a", "text": "y"}\n', "line 3: duplicate id 'a' (first on"),
        ("j.csv", "id,text\na,x\nb,y\na,z\n", "j.csv line 4: duplicate id 'a' (first on line 2)"),
        ("j.jsonl", '{"id": "a", "text": "x"}\n{"id": "b", "text": }\n', "j.jsonl line 2: invalid JSON"),
        ("j.jsonl", '["a", "x"]\n', "j.jsonl line 1: expected a JSON object"),
        ("j.jsonl", "", "j.jsonl: empty file"),
        ("j.txt", "\n  \n", "j.txt: empty file"),
        ("j.csv", "id,text\n", "j.csv: no rows"),
        ("j.jsonl", '{"id": "../x", "text": "x"}\n', "j.jsonl line 1: id '../x' cannot name a file"),
        ("j.jsonl", '{"id": "a", "text": "x", "seed": "soon"}\n', "line 1: 'seed' must be an integer from 0 to 2"),
        ("j.jsonl", '{"id": "a", "text": "x", "decoder": "mp3"}\n', "line 1: unknown decoder 'mp3'"),
        ("j.jsonl", '{"id": "a", "text": "x", "sha256": "0"}\n', "line 1: column 'sha256' is a manifest field"),
        ("j.csv", "id,text\na,x,extra\n", "j.csv line 2: 3 fields, the header has 2"),
    ],
)
def test_bad_jobs_fail_with_one_line_naming_the_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_jobs(path)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_bad_jobs_fail_before_any_model_loads(tmp_path, capsys):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    # the models do not exist: the job's error comes first, so nothing was loaded
    code = main(["batch", str(jobs), "--out", str(tmp_path / "out"), "--bark", "/nonexistent", "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error == f"bark-vocos: error: {jobs} line 2: duplicate id 'a' (first on line 1)"
    assert not (tmp_path / "out").exists()


def test_row_seed_is_stable_and_regenerates_a_row_alone(tiny_dir, tmp_path):
    assert row_seed(0, "a") == row_seed(0, "a") != row_seed(1, "a")
    assert row_seed(0, "a") != row_seed(0, "b")
    assert 0 <= row_seed(123, "x") < 2**31
    # the documented derivation: the first 31 bits of sha256("<job seed>:<id>")
    assert row_seed(0, "a") == int.from_bytes(hashlib.sha256(b"0:a").digest()[:4], "big") >> 1 == 1324999421
    jobs = write_jsonl(tmp_path / "jobs.jsonl", _rows(4))
    summary = run_batch(jobs, tmp_path / "out", settings=settings(tiny_dir), seed=5, progress=False)
    assert (summary.generated, summary.failed) == (4, 0)
    entry = manifest_entries(tmp_path / "out")["r001"]
    assert entry["seed"] == row_seed(5, "r001")
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    alone = pipe(entry["text"], seed=row_seed(5, "r001"), progress=False).audio
    audio, rate = read_audio(tmp_path / "out" / "r001.wav")
    assert rate == 24000 and entry["samples"] == audio.shape[0]
    np.testing.assert_array_equal(audio, alone)


# --- the local runner, the manifest and resuming ------------------------------------------------------------------


def test_failing_rows_are_recorded_and_the_job_goes_on(tiny_dir, tmp_path, capsys):
    rows = [
        {"id": "ok1", "text": "Hello there", "book": "b1"},
        {"id": "empty", "text": "   "},
        {"id": "badvoice", "text": "Hello", "voice": "v2/xx_speaker_9"},
        {"id": "ok2", "text": "my dog is cute", "voice": "v2/en_speaker_0"},
    ]
    jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    args = ["batch", str(jobs), "--out", str(out), "--bark", str(tiny_dir / "bark")]
    args += ["--vocoder", str(tiny_dir / "vocos")]
    code = main([*args, "--threads", "1", "--no-progress", "--format", "flac"])
    captured = capsys.readouterr()
    assert code == 3
    assert "4 rows: 2 generated, 0 already done, 2 failed" in captured.out
    assert "failed: empty: ValueError: text is empty" in captured.err
    assert "failed: badvoice: ValueError: unknown voice preset 'v2/xx_speaker_9'" in captured.err
    entries = manifest_entries(out)
    assert list(entries) == ["ok1", "empty", "badvoice", "ok2"]
    assert entries["ok1"]["book"] == "b1" and entries["ok1"]["status"] == "ok" and entries["ok1"]["error"] is None
    assert entries["empty"]["status"] == "failed" and entries["empty"]["sha256"] is None
    assert sorted(_files(out)) == ["ok1.flac", "ok2.flac"]
    assert list(entries["ok1"]) == [
        "id", "status", "file", "text", "duration", "samples", "sampling_rate", "sha256", "seed", "voice", "decoder",
        "error", "settings", "say", "book",
    ]  # fmt: skip
    audio, rate = read_audio(out / "ok2.flac")
    assert (rate, audio.shape[0]) == (24000, entries["ok2"]["samples"])
    assert entries["ok2"]["duration"] == pytest.approx(audio.shape[0] / 24000)
    # a rerun skips the done rows and retries only the failed ones (which fail again); no line is duplicated
    code = main([*args, "--threads", "1", "--no-progress", "--format", "flac"])
    assert code == 3
    assert "4 rows: 0 generated, 2 already done, 2 failed" in capsys.readouterr().out
    assert len(manifest_entries(out)) == 4


def test_resume_detects_corrupt_missing_and_changed_rows(tiny_dir, tmp_path):
    rows = _rows(8)
    jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    first = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    assert (first.total, first.generated, first.skipped, first.failed) == (8, 8, 0, 0)
    reference, reference_entries = _files(out), manifest_entries(out)

    again = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    assert (again.generated, again.skipped) == (0, 8)
    assert (out / "manifest.jsonl").read_text().count("\n") == 8

    (out / "r001.wav").write_bytes(reference["r001.wav"][: len(reference["r001.wav"]) // 2])  # truncated
    corrupt = bytearray(reference["r002.wav"])
    corrupt[-10] ^= 0xFF
    (out / "r002.wav").write_bytes(bytes(corrupt))  # one sample changed, same size
    (out / "r003.wav").unlink()  # missing
    rows[4]["text"] = "a changed text"  # changed since: regenerated, its old line dropped
    write_jsonl(jobs, rows)
    with open(out / "manifest.jsonl", "a") as f:
        f.write('{"id": "r005", "status": "o')  # the trace of a kill while appending
    resumed = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    assert (resumed.generated, resumed.skipped, resumed.failed) == (4, 4, 0)
    files, entries = _files(out), manifest_entries(out)
    assert {name: files[name] for name in reference if name != "r004.wav"} == {
        name: data for name, data in reference.items() if name != "r004.wav"
    }
    assert entries["r004"]["text"] == "a changed text" and "r004.wav" in files
    assert {key: value for key, value in entries.items() if key != "r004"} == {
        key: value for key, value in reference_entries.items() if key != "r004"
    }
    assert not _temporary_files(out)


def test_rows_made_with_other_models_or_settings_are_made_again(tiny_dir, tmp_path):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", _rows(3))
    out = tmp_path / "out"
    run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    recorded = manifest_entries(out)["r000"]["settings"]
    assert recorded == {
        "bark": str((tiny_dir / "bark").resolve()), "vocoder": str((tiny_dir / "vocos").resolve()), "engine": "exact",
        "dtype": None, "max_chunk_tokens": 48, "pause_seconds": 0.2, "batch_size": 4,
    }  # fmt: skip
    same = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    assert (same.generated, same.skipped) == (0, 3)

    other = dataclasses.replace(settings(tiny_dir), engine="transformers")
    redone = run_batch(jobs, out, settings=other, progress=False)
    assert (redone.generated, redone.skipped) == (3, 0)
    entries = manifest_entries(out)
    assert len(entries) == 3 and {entry["settings"]["engine"] for entry in entries.values()} == {"transformers"}

    # a manifest written before lines recorded their settings: its rows count as made with these
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    write_jsonl(out / "manifest.jsonl", [{k: v for k, v in line.items() if k != "settings"} for line in lines])
    old = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
    assert (old.generated, old.skipped) == (0, 3)


def test_a_second_run_on_the_same_folder_is_refused(tiny_dir, tmp_path):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", _rows(2))
    (tmp_path / "out").mkdir()
    with Manifest(tmp_path / "out"), pytest.raises(OSError, match="another batch job is writing"):
        run_batch(jobs, tmp_path / "out", settings=settings(tiny_dir), progress=False)


def test_bad_options_are_refused(tiny_dir, tmp_path):
    jobs = write_jsonl(tmp_path / "jobs.jsonl", _rows(1))
    for options, message in [
        ({"runner": "spark"}, "unknown runner 'spark'"),
        ({"format": "mp3"}, "unknown format 'mp3'"),
        ({"workers": 2}, "the local runner has one worker"),
        ({"runner": "ray", "workers": 0}, "workers must be an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            run_batch(jobs, tmp_path / "out", settings=settings(tiny_dir), progress=False, **options)
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        run_batch([JobRow("a", "x"), JobRow("a", "y")], tmp_path / "out", settings=settings(tiny_dir), progress=False)


KILL_ROWS = 30


@pytest.fixture(scope="module")
def uninterrupted(tiny_dir, tmp_path_factory, pin_kernels):
    """The kill tests' job run once without interruption: (jobs file, output folder)."""
    with pin_kernels():
        folder = tmp_path_factory.mktemp("uninterrupted")
        jobs = write_jsonl(folder / "jobs.jsonl", _rows(KILL_ROWS))
        run_batch(jobs, folder / "out", settings=settings(tiny_dir), progress=False)
        return jobs, folder / "out"


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_job_resumes_with_every_row_done_once(tiny_dir, tmp_path, uninterrupted, signal_number, pin_kernels):
    with pin_kernels():
        jobs, whole = uninterrupted
        rows = read_jobs(jobs)
        out = tmp_path / "out"
        models = ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
        process = start_batch([str(jobs), "--no-progress", *models, "--threads", "1"], out, timeout=120)
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
        if signal_number == signal.SIGINT:
            assert process.returncode == 130, stderr.decode()
            assert "bark-vocos: interrupted" in stderr.decode()
            assert not _temporary_files(out)  # Ctrl-C removes the file being written
        else:
            assert process.returncode == -signal.SIGKILL
        before = manifest_entries(out)
        assert 3 <= len(before) < len(rows), "the job was not stopped part-way"
        assert all(entry["status"] == "ok" for entry in before.values())

        resumed = run_batch(jobs, out, settings=settings(tiny_dir), progress=False)
        assert (resumed.skipped, resumed.generated, resumed.failed) == (len(before), len(rows) - len(before), 0)
        assert not _temporary_files(out)
        assert _files(out) == _files(whole)
        assert manifest_entries(out) == manifest_entries(whole)
        assert len((out / "manifest.jsonl").read_text().splitlines()) == len(rows)
