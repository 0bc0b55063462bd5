"""The Ray batch runner on a local Ray (2 CPUs, one session for the module): same files as local, 200 rows."""

import json
import signal

import pytest
import torch
from batch_helpers import WORDS, manifest_entries, settings, start_batch, write_jsonl

from bark_vocos.kernels import linear_kernel_names
from pipelines.batch import run_batch
from pipelines.batch.ray_runner import worker_runtime_env
from pipelines.commands import main

ray = pytest.importorskip("ray", reason="the Ray runner needs the ray extra (make setup installs it)")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (start-up is slow); the runner reuses a Ray it finds started."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_and_local_give_byte_identical_files(tiny_dir, tmp_path, capsys, pin_kernels):
    with pin_kernels():
        rows = [{"id": f"r{index}", "text": " ".join(WORDS[: 2 + 3 * index]), "take": index} for index in range(6)]
        rows[2]["voice"] = "v2/en_speaker_1"
        rows[3]["seed"] = 42
        rows[4]["decoder"] = "encodec"
        rows += [{"id": "empty", "text": ""}, {"id": "badvoice", "text": "Hello", "voice": "nobody"}]
        jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
        local = run_batch(jobs, tmp_path / "local", settings=settings(tiny_dir), seed=3, progress=False)
        assert (local.generated, local.failed) == (6, 2)

        models = ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
        out = tmp_path / "ray"
        code = main(
            ["batch", str(jobs), "--out", str(out), *models, "--runner", "ray", "--workers", "2", "--seed", "3"]
        )
        assert code == 3
        assert "8 rows: 6 generated, 0 already done, 2 failed" in capsys.readouterr().out
        local_files = {path.name: path.read_bytes() for path in (tmp_path / "local").glob("*.wav")}
        ray_files = {path.name: path.read_bytes() for path in out.glob("*.wav")}
        assert len(local_files) == 6 and ray_files == local_files
        assert manifest_entries(out) == manifest_entries(tmp_path / "local")
        assert manifest_entries(out)["r1"]["take"] == 1
        assert "unknown voice preset 'nobody'" in manifest_entries(out)["badvoice"]["error"]

        # resuming reads the manifest the same way whichever runner wrote it
        resumed = run_batch(jobs, out, settings=settings(tiny_dir), seed=3, progress=False)
        assert (resumed.skipped, resumed.generated, resumed.failed) == (6, 0, 2)
        assert len(manifest_entries(out)) == 8


def test_two_hundred_rows_of_mixed_lengths(tiny_dir, tmp_path, pin_kernels):
    """Kernels pinned: the runner's 200 rows are the subject, not each worker timing its kernels for every new length
    (most of this test's time unpinned); workers that read the driver's choices are the last test's subject."""
    rows = [{"id": f"line{index:03d}", "text": " ".join(WORDS[: 1 + (index * 7) % 19])} for index in range(200)]
    jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
    out = tmp_path / "out"
    with pin_kernels():
        summary = run_batch(jobs, out, settings=settings(tiny_dir), runner="ray", workers=2, progress=False)
    assert summary.total == summary.generated + summary.failed == 200
    entries = manifest_entries(out)
    assert sorted(entries) == [row["id"] for row in rows]
    ok = sorted(f"{row_id}.wav" for row_id, entry in entries.items() if entry["status"] == "ok")
    assert len(ok) == summary.generated and sorted(path.name for path in out.glob("*.wav")) == ok
    # random tiny weights sometimes end a text at once (no codes): such a row fails alone, with its error
    failed = [entry for entry in entries.values() if entry["status"] == "failed"]
    assert len(failed) == summary.failed and len(failed) < 10
    assert all(entry["error"].startswith("ValueError: the generation has no audio") for entry in failed)
    assert summary.audio_seconds == pytest.approx(sum(entries[name[:-4]]["duration"] for name in ok))
    assert not [path.name for path in out.iterdir() if ".part" in path.name]


def test_bench_batch_reports_both_runners(tmp_path, capsys, pin_kernels):
    with pin_kernels():
        out = tmp_path / "bench.json"
        threads = torch.get_num_threads()
        try:
            assert main(["bench", "batch", "--rows", "3", "--words", "4", "--repeats", "1", "--out", str(out)]) == 0
        finally:
            torch.set_num_threads(threads)  # the bench sets its --threads for the whole process
        printed = capsys.readouterr().out
        assert "torch ISA" in printed and "Ray overhead on this machine" in printed
        results = json.loads(out.read_text())
        assert results["identical_files"] is True
        assert [len(results["runs"][runner]) for runner in ("local", "ray")] == [1, 1]
        for run in (results["runs"]["local"][0], results["runs"]["ray"][0]):
            assert run["generated"] + run["failed"] == 3 and run["wall_s"] > 0 and run["rows_per_s"] > 0
        assert len(results["ray_over_local_wall"]) == len(results["ray_over_local_steady"]) == 1


@pytest.mark.slow
def test_ray_job_interrupted_by_ctrl_c_resumes(tiny_dir, tmp_path, pin_kernels):
    """A real `bark-vocos batch --runner ray` process (its own local Ray) stopped by SIGINT, then resumed."""
    with pin_kernels():
        rows = [{"id": f"r{index:02d}", "text": " ".join(WORDS[: 2 + index % 15])} for index in range(40)]
        jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
        out = tmp_path / "out"
        models = ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
        process = start_batch([str(jobs), "--runner", "ray", *models, "--no-progress"], out, timeout=240)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, stderr.decode()[-2000:]
        before = manifest_entries(out)
        assert 3 <= len(before) < len(rows), "the job was not stopped part-way"
        assert not [path.name for path in out.iterdir() if ".part" in path.name]

        resumed = run_batch(jobs, out, settings=settings(tiny_dir), runner="ray", progress=False)
        assert resumed.skipped == len(before) and resumed.generated + resumed.failed == len(rows) - len(before)
        whole = run_batch(jobs, tmp_path / "whole", settings=settings(tiny_dir), progress=False)
        assert whole.generated == resumed.generated + len(before)
        assert {path.name: path.read_bytes() for path in out.glob("*.wav")} == {
            path.name: path.read_bytes() for path in (tmp_path / "whole").glob("*.wav")
        }
        assert manifest_entries(out) == manifest_entries(tmp_path / "whole")


@pytest.mark.skipif("onednn" not in linear_kernel_names(), reason="the pin below raises only where oneDNN is offered")
def test_workers_get_the_drivers_kernel_pins_and_nothing_else(tiny_dir, tmp_path, monkeypatch, pins):
    # a valid pin that no layer without a GELU offers: the worker's rows fail on it, so the error shows it arrived
    pins({"BARK_VOCOS_DRAFT_TOKENS": "2", "BARK_VOCOS_KERNEL": "onednn_aten_gelu", "BARK_VOCOS_DECODE_ENGINE": None})
    monkeypatch.setenv("BARK_VOCOS_API_KEY", "secret")  # the server's key has no business on a worker
    monkeypatch.setenv("BARK_VOCOS_INT8_KERNEL", "onednn")  # the driver's settings were read at its start, not now
    # and the driver's tuning record (the suite's conftest turns it off), so local workers read the same choices
    expected = {
        "BARK_VOCOS_KERNEL": "onednn_aten_gelu",
        "BARK_VOCOS_DRAFT_TOKENS": "2",
        "BARK_VOCOS_TUNING_RECORD": "off",
    }
    assert worker_runtime_env() == {"env_vars": expected}

    # the pins are the driver's settings, not in its environment: only forwarding brings them to the worker
    jobs = write_jsonl(tmp_path / "jobs.jsonl", [{"id": "a", "text": "Hello my dog"}])
    summary = run_batch(jobs, tmp_path / "out", settings=settings(tiny_dir), runner="ray", progress=False)
    assert (summary.generated, summary.failed) == (0, 1)
    error = manifest_entries(tmp_path / "out")["a"]["error"]
    assert error == "ValueError: BARK_VOCOS_KERNEL='onednn_aten_gelu' is not a kernel here; valid: ['aten', 'onednn']"


def test_ray_and_local_give_byte_identical_files_unpinned_once_tuned(tiny_dir, tmp_path, pins):
    """No kernel pinned: the local run measures its choices into the tuning record, the Ray workers (fresh processes,
    given the record's path) read every choice from it, measure nothing, and write the same bytes."""
    record = tmp_path / "tuning.json"
    pins({"BARK_VOCOS_TUNING_RECORD": str(record)})
    rows = [{"id": f"r{index}", "text": " ".join(WORDS[: 3 + 2 * index])} for index in range(4)]
    jobs = write_jsonl(tmp_path / "jobs.jsonl", rows)
    local = run_batch(jobs, tmp_path / "local", settings=settings(tiny_dir), seed=5, progress=False)
    assert local.generated + local.failed == 4 and local.generated >= 3
    filled = record.read_bytes()
    assert {entry["kind"] for entry in json.loads(filled)["choices"]} >= {"linear"}

    remote = run_batch(jobs, tmp_path / "ray", settings=settings(tiny_dir), seed=5, runner="ray", progress=False)
    assert (remote.generated, remote.failed) == (local.generated, local.failed)
    assert {path.name: path.read_bytes() for path in (tmp_path / "ray").glob("*.wav")} == {
        path.name: path.read_bytes() for path in (tmp_path / "local").glob("*.wav")
    }
    assert record.read_bytes() == filled  # the workers measured nothing: they read every choice
