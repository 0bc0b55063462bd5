"""`bark-vocos serve` as a user starts it: loads the models, binds loopback on a free port, prints the URL and that it
listens on loopback only, answers, and stops on Ctrl-C (SIGINT). Option mistakes are one error line."""

import io
import os
import queue
import signal
import subprocess
import sys
import threading

import httpx
import pytest
import soundfile as sf

from pipelines.commands import main

START_SECONDS = 120


def _lines(stream, out: queue.Queue) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def test_serve_prints_its_loopback_url_answers_and_stops_on_ctrl_c(tiny_dir):
    env = {**os.environ, "BARK_VOCOS_API_KEY": "env-key", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "pipelines", "serve", "--port", "0", "--max-queue", "2"]
    command += ["--first-chunk-tokens", "8"]
    command += ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    printed = []
    try:
        while not any(line.startswith("bark-vocos speech server on ") for line in printed):
            line = lines.get(timeout=START_SECONDS)
            assert line is not None, "".join(printed)
            printed.append(line)
        url = next(line for line in printed if line.startswith("bark-vocos speech server on ")).split()[4]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        assert lines.get(timeout=10).startswith("listening on loopback only")
        assert "random weights" in lines.get(timeout=10)
        health = httpx.get(url + "health", timeout=START_SECONDS)  # uvicorn may still be starting: it waits
        assert health.json()["queue"]["max_queue"] == 2 and health.json()["auth"] is True
        assert httpx.get(url + "v1/models", timeout=10).status_code == 401  # the key came from the environment
        auth = {"Authorization": "Bearer env-key"}
        models = httpx.get(url + "v1/models", headers=auth, timeout=10)
        assert models.json()["data"][0]["id"] == "bark-vocos"
        body = {"input": "Hello there. How are you?", "voice": "alloy", "response_format": "flac", "seed": 0}
        speech = httpx.post(url + "v1/audio/speech", json=body, headers=auth, timeout=START_SECONDS)
        audio, rate = sf.read(io.BytesIO(speech.content))
        assert speech.headers["x-seed"] == "0" and rate == 24000 and audio.shape[0] > 0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # uvicorn shuts down, then the CLI says the server stopped
        rest = []
        while (line := lines.get(timeout=10)) is not None:
            rest.append(line)
        assert "Traceback" not in "".join(rest)
        assert rest[-1] == "bark-vocos: server stopped (Ctrl-C); 0 request(s) were in flight\n"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--port", "70000"], "--port must be in [0, 65535], got 70000"),
        (["--max-queue", "0"], "max_queue must be >= 1, got 0"),
        (["--voice-alias", "alloy"], "--voice-alias takes NAME=PRESET, got 'alloy'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--first-chunk-tokens", "0"], "--first-chunk-tokens must be >= 1, got 0"),
    ],
)
def test_serve_option_mistakes_are_one_error_line(capsys, options, message):
    assert main(["serve", *options]) == 1
    assert message in capsys.readouterr().err


def _serve_process(tiny_dir, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipelines", "serve", "--bark", str(tiny_dir / "bark")]
    command += ["--vocoder", str(tiny_dir / "vocos"), *options]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=START_SECONDS)


def test_serve_on_a_busy_port_fails_before_loading_the_models(tiny_dir):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _serve_process(tiny_dir, "--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bark-vocos: error: cannot listen on 127.0.0.1:{port}: ")
    assert "loading" not in result.stderr + result.stdout


def test_serve_on_a_bad_host_fails_before_loading_the_models(tiny_dir):
    result = _serve_process(tiny_dir, "--host", "999.1.1.1", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("bark-vocos: error: cannot listen on 999.1.1.1:0")
    assert "loading" not in result.stderr + result.stdout


def test_serve_refuses_a_voice_alias_to_an_unknown_preset(tiny_dir):
    result = _serve_process(tiny_dir, "--port", "0", "--voice-alias", "bob=v2/nope")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("bark-vocos: error: --voice-alias bob=v2/nope: this Bark model has no preset 'v2/nope'")
    )
    assert "speech server on" not in result.stdout


def test_serve_stopped_by_sigterm_says_so(tiny_dir):
    command = [sys.executable, "-m", "pipelines", "serve", "--port", "0"]
    command += ["--bark", str(tiny_dir / "bark"), "--vocoder", str(tiny_dir / "vocos")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        printed = []
        while not any(line.startswith("bark-vocos speech server on ") for line in printed):
            line = lines.get(timeout=START_SECONDS)
            assert line is not None, "".join(printed)
            printed.append(line)
        url = next(line for line in printed if line.startswith("bark-vocos speech server on ")).split()[4]
        assert httpx.get(url + "health", timeout=START_SECONDS).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 143
        rest = []
        while (line := lines.get(timeout=10)) is not None:
            rest.append(line)
        assert "Traceback" not in "".join(rest) and "no partial output" not in "".join(rest)
        assert rest[-1] == "bark-vocos: server stopped (SIGTERM); 0 request(s) were in flight\n"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
