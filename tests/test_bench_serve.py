"""`bark-vocos bench serve` on tiny random checkpoints: it runs, names the CPU and ISA, and writes its figures."""

import json

from pipelines.commands import main


def test_bench_serve_reports_first_byte_and_total_against_pipe(tmp_path, capsys):
    out = tmp_path / "serve.json"
    options = ["--repeats", "1", "--threads", "2", "--text", "Hello there. How are you?", "--first-chunk-tokens", "8"]
    options += ["--out", str(out)]
    assert main(["bench", "serve", *options]) == 0
    printed = capsys.readouterr().out
    assert "random weights" in printed and "torch ISA " in printed
    assert "first byte after" in printed
    results = json.loads(out.read_text())
    assert results["machine"]["line"].startswith("cpu: ") and results["machine"]["isa"] in results["machine"]["line"]
    (round_,) = results["rounds"]
    assert 0 < round_["first_byte_s"] <= round_["stream_total_s"]
    assert round_["pipe_total_s"] > 0 and round_["audio_s"] > 0
    assert set(results["ratios"]) == {"first_byte_over_pipe", "stream_total_over_pipe"}


def test_bench_serve_rejects_bad_options(capsys):
    assert main(["bench", "serve", "--repeats", "0"]) == 1
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err
    assert main(["bench", "serve", "--vocoder", "somewhere"]) == 1
    assert "--vocoder needs --bark" in capsys.readouterr().err
