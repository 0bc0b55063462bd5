"""`bark-vocos bench oneshot` on make-tiny's checkpoints: whole processes run, phases add up, both sides speak alike."""

import json
import platform
import subprocess
import sys

import pytest
import soundfile as sf

from pipelines.commands import main


def test_bench_oneshot_runs_whole_processes_and_stores_their_figures(tmp_path, capsys):
    out = tmp_path / "oneshot.json"
    args = ["bench", "oneshot", "--quick", "--engines", "exact", "--repeats", "1", "--semantic-tokens", "8"]
    assert main([*args, "--workdir", str(tmp_path / "work"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "random weights" in printed and "exact:" in printed and "the reference's speed" in printed
    results = json.loads(out.read_text())
    assert results["shape"] == "make-tiny" and results["semantic_tokens"] == 8 and len(results["rounds"]) == 1
    figures = results["rounds"][0]
    for mode in ("reference", "exact"):
        process = figures[mode]
        parts = sum(process[name] for name in ("startup_s", "import_s", "load_s", "first_call_s", "write_s"))
        assert abs(parts - process["process_s"]) < 0.01
        assert process["peak_rss_gb"] > 0.05 and process["second_call_s"] > 0
    # ours keeps freed memory as the commands do (glibc only); the model card's process does not
    assert figures["reference"]["keeps_freed_memory"] is False
    assert figures["exact"]["keeps_freed_memory"] is (platform.libc_ver()[0] == "glibc")
    # greedy, forced length: our Vocos and the reference's EnCodec decode the same number of frames (320 samples each)
    samples = {mode: sf.info(tmp_path / "work" / f"{mode}.wav").frames for mode in ("reference", "exact")}
    assert samples["reference"] == samples["exact"] == figures["exact"]["samples"]
    assert samples["exact"] % 320 == 0 and samples["exact"] > 0
    ratio = figures["reference"]["process_s"] / figures["exact"]["process_s"]
    assert abs(results["speedup"]["exact"] - round(ratio, 3)) < 1e-3


def test_bench_oneshot_refuses_bad_counts_before_any_work(tmp_path, capsys):
    assert main(["bench", "oneshot", "--repeats", "0", "--workdir", str(tmp_path / "work")]) == 1
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status")
def test_a_child_s_peak_memory_is_its_own_not_its_parent_s():
    """`getrusage` in a child counts the peak of the parent it was forked from; the bench's figure must not."""
    held = bytearray(400 * 1024 * 1024)
    held[::4096] = b"\x01" * len(range(0, len(held), 4096))  # resident in this process
    code = (
        "import resource; from pipelines.commands.bench_oneshot import _peak_resident_bytes\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, _peak_resident_bytes())"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    inherited, own = (int(value) for value in run.stdout.split())
    assert inherited > len(held) > 4 * own  # a bare interpreter with that module holds well under 100 MB
    del held
