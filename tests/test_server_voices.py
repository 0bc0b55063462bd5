"""`POST /v1/audio/voices`: uploads are off unless a cloner is given; the key, size and length limits apply; an uploaded
voice speaks like the same preset given to the pipeline. Tiny random models: no one's voice."""

import io

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from pipelines import TextToWavPipeline, VoiceCloner
from pipelines.server import ServerSettings, create_app
from pipelines.server.formats import to_pcm16

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SR = 16_000


def _speech(seconds: float) -> np.ndarray:
    """Harmonic syllables at 3 per second, sounding about 75 % of the time."""
    t = np.arange(round(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(160 + 50 * np.sin(2 * np.pi * 0.7 * t)) / SR
    tone = sum(np.sin(k * phase) / k for k in range(1, 20))
    audio = 0.5 * tone * np.clip(1.5 * np.sin(2 * np.pi * 3 * t) + 1.0, 0, 1) / np.abs(tone).max()
    return audio.astype(np.float32)


def _wav(audio: np.ndarray, sampling_rate: int = SR, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, sampling_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def parts(tiny_dir, tmp_path_factory):
    from bark_vocos.testing import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer

    root = tmp_path_factory.mktemp("server_voice_models")
    cloner = VoiceCloner.from_pretrained(
        hubert=save_tiny_hubert(root / "hubert"),
        quantizer=save_tiny_quantizer(root / "q.pth"),
        encodec=save_tiny_encodec(root / "encodec"),
        bark=tiny_dir / "bark",
    )
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    return pipe, cloner


@pytest.fixture(scope="module")
def client(parts):
    pipe, cloner = parts
    settings = ServerSettings(api_key=KEY, max_upload_bytes=1024 * 1024, max_upload_seconds=20, max_uploaded_voices=2)
    with TestClient(create_app(pipe, settings, cloner=cloner)) as client:
        yield client


def _upload(client, name, data, headers=AUTH):
    return client.post("/v1/audio/voices", data={"name": name}, files={"file": ("rec.wav", data)}, headers=headers)


def test_upload_is_off_without_allow_voice_upload(parts):
    with TestClient(create_app(parts[0], ServerSettings())) as off:
        assert off.get("/v1/audio/voices").json()["voice_upload"] is False
        response = _upload(off, "mine", _wav(_speech(4.0)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "voice_upload_disabled"
    assert "--allow-voice-upload" in response.json()["error"]["message"]


def test_uploaded_voice_is_listed_and_speaks_like_the_same_preset(client, parts):
    pipe, cloner = parts
    recording = _speech(6.0)
    response = _upload(client, "mine", _wav(recording))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "mine" and body["preset"] == "uploaded"
    assert body["window"]["seconds"] == pytest.approx(cloner.bounds.max_seconds, abs=0.01)
    assert abs(body["semantic_tokens"] - 49.9 * body["window"]["seconds"]) <= 1
    listed = client.get("/v1/audio/voices", headers=AUTH).json()
    assert listed["voice_upload"] is True
    assert {"id": "mine", "name": "mine", "preset": "uploaded"} in listed["voices"]
    request = {"input": "Hello there.", "voice": "mine", "seed": 3, "response_format": "pcm"}
    speech = client.post("/v1/audio/speech", json=request, headers=AUTH)
    assert speech.status_code == 200 and speech.headers["X-Voice-Preset"] == "uploaded"
    # the same voice made from the same 16-bit samples, given to the pipeline directly
    decoded = sf.read(io.BytesIO(_wav(recording)), dtype="float32")[0]
    preset = cloner(decoded, SR).as_preset()
    expected = to_pcm16(pipe("Hello there.", voice_preset=preset, seed=3, progress=False).audio)
    np.testing.assert_array_equal(np.frombuffer(speech.content, dtype="<i2"), expected)
    without = to_pcm16(pipe("Hello there.", seed=3, progress=False).audio)
    assert not np.array_equal(expected, without)


@pytest.mark.parametrize(
    ("name", "data", "headers", "status", "message"),
    [
        ("mine", b"RIFF", {}, 401, "missing API key"),
        ("mine", _wav(np.zeros(30 * SR, np.float32), subtype="FLOAT"), AUTH, 413, "upload over 1048576 bytes"),
        ("mine", _wav(np.zeros(25 * 8000, np.float32), 8000), AUTH, 413, "at most 20 s"),
        ("mine", b"this is no audio file", AUTH, 400, "not audio"),
        ("mine", _wav(np.zeros(4 * SR, np.float32)), AUTH, 400, "the recording is silent"),
        ("mine", _wav(_speech(1.0)), AUTH, 400, "too short"),
        ("../etc", _wav(_speech(4.0)), AUTH, 400, "'name' must be 1 to 64"),
        ("alloy", _wav(_speech(4.0)), AUTH, 409, "is a voice of the model"),
    ],
)
def test_bad_uploads_are_refused(client, name, data, headers, status, message):
    response = _upload(client, name, data, headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_not_multipart_and_too_many_voices(parts):
    pipe, cloner = parts
    with TestClient(create_app(pipe, ServerSettings(max_uploaded_voices=2), cloner=cloner)) as client:
        response = client.post("/v1/audio/voices", json={"name": "x"})
        assert response.status_code == 400 and "multipart/form-data" in response.json()["error"]["message"]
        assert [_upload(client, name, _wav(_speech(4.0)), {}).status_code for name in ("one", "two", "one")] == [
            201
        ] * 3
        response = _upload(client, "three", _wav(_speech(4.0)), {})
        assert response.status_code == 409 and "at most 2 uploaded voices" in response.json()["error"]["message"]
        assert [v["id"] for v in client.get("/v1/audio/voices").json()["voices"]][-2:] == ["one", "two"]


def test_serve_allow_voice_upload_on_loopback(tiny_dir, parts, tmp_path):
    """`bark-vocos serve --allow-voice-upload` as a user starts it: a real server process on 127.0.0.1."""
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from bark_vocos.testing import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer

    command = [sys.executable, "-m", "pipelines", "serve", "--port", "0", "--bark", str(tiny_dir / "bark")]
    command += ["--vocoder", str(tiny_dir / "vocos"), "--allow-voice-upload", "--max-upload-seconds", "10"]
    command += ["--hubert", str(save_tiny_hubert(tmp_path / "hubert")), "--quantizer"]
    command += [str(save_tiny_quantizer(tmp_path / "q.pth")), "--encodec", str(save_tiny_encodec(tmp_path / "enc"))]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        printed = [process.stdout.readline() for _ in range(3)]
        url = printed[0].split()[4]
        assert url.startswith("http://127.0.0.1:") and printed[2].startswith("voice upload is on")
        files = {"file": ("rec.wav", _wav(_speech(5.0)))}
        created = httpx.post(url + "v1/audio/voices", data={"name": "mine"}, files=files, timeout=120)
        assert created.status_code == 201, created.text
        assert "mine" in [v["id"] for v in httpx.get(url + "v1/audio/voices", timeout=10).json()["voices"]]
        files = {"file": ("long.wav", _wav(np.zeros(11 * 8000, np.float32), 8000))}
        too_long = httpx.post(url + "v1/audio/voices", data={"name": "x"}, files=files, timeout=60)
        assert too_long.status_code == 413 and "at most 10 s" in too_long.json()["error"]["message"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
