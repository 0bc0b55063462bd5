"""The speech server on tiny random checkpoints, live on an ephemeral loopback port: the official `openai` client gets
valid audio in every format, bad requests get OpenAI-shaped errors with the right status, a bounded load of concurrent
requests gets complete audio or 503, and the queue and worker behave."""

import asyncio
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf

from bark_vocos.testing import TINY_VOICE_PRESETS
from pipelines import TextToWavPipeline
from pipelines.server import (
    BackgroundServer,
    GenerationWorker,
    QueueFullError,
    ServerSettings,
    SpeechJob,
    create_app,
    voice_table,
)
from pipelines.server.formats import to_pcm16, wav_stream_header, writable_formats

KEY = "test-key"
TEXT = "Hello there."
LONG_TEXT = " ".join(f"Sentence number {i} is here." for i in range(12))  # several chunks
REQUEST_SECONDS = 120  # every request of these tests is bounded by this


@pytest.fixture(scope="module")
def server(tiny_dir):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    app = create_app(pipe, ServerSettings(api_key=KEY, max_queue=4))
    live = BackgroundServer(app).start()
    live.pipe = pipe
    live.worker = app.state.worker
    yield live
    live.stop()


@pytest.fixture(scope="module")
def reference(tiny_dir):
    """The pipeline's own audio, as the 16-bit samples the server sends: (text, preset, seed, decoder) -> int16 (T,).

    A second pipeline instance, called only while the server is idle (both would share torch's global generator).
    """
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    cache = {}

    def audio(text, preset, seed, decoder="vocos"):
        key = (text, preset, seed, decoder)
        if key not in cache:
            cache[key] = to_pcm16(pipe(text, voice_preset=preset, seed=seed, decoder=decoder, progress=False).audio)
        return cache[key]

    return audio


def client(server, key=KEY):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=REQUEST_SECONDS)


def post(server, body, key=KEY, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    return httpx.post(server.url + "/v1/audio/speech", content=content, headers=headers, timeout=REQUEST_SECONDS)


def test_writable_formats_include_the_streamed_ones_and_never_aac():
    formats = writable_formats()
    assert {"wav", "pcm", "flac"} <= set(formats)
    assert "aac" not in formats


def test_voice_table_maps_openai_names_and_falls_back_in_turn():
    table = voice_table(["v2/en_speaker_0", "v2/en_speaker_1"])
    # echo and onyx keep their presets; alloy, fable, nova and shimmer, whose presets are missing, take them in turn
    assert table == {
        "alloy": "v2/en_speaker_0",
        "echo": "v2/en_speaker_1",
        "fable": "v2/en_speaker_1",
        "onyx": "v2/en_speaker_0",
        "nova": "v2/en_speaker_0",
        "shimmer": "v2/en_speaker_1",
        "v2/en_speaker_0": "v2/en_speaker_0",
        "v2/en_speaker_1": "v2/en_speaker_1",
    }
    assert voice_table([f"v2/en_speaker_{i}" for i in range(10)])["nova"] == "v2/en_speaker_9"
    assert voice_table([], {"alloy": "x"}) == {"alloy": None}
    with pytest.raises(ValueError, match="'v2/en_speaker_0' is also a preset name"):
        voice_table(["v2/en_speaker_0", "v2/en_speaker_1"], {"v2/en_speaker_0": "v2/en_speaker_1"})


def test_streamed_wav_header_reads_to_the_end_with_soundfile():
    samples = to_pcm16(np.linspace(-1.5, 1.5, 4801, dtype=np.float32))
    assert samples[0] == -32767 and samples[-1] == 32767 and samples[2400] == 0
    audio, rate = sf.read(io.BytesIO(wav_stream_header(24000) + samples.tobytes()), dtype="int16")
    assert rate == 24000
    np.testing.assert_array_equal(audio, samples)


@pytest.mark.parametrize("response_format", writable_formats())
def test_openai_client_gets_the_pipelines_audio_in_each_format(server, reference, response_format):
    expected = reference(TEXT, "v2/en_speaker_1", 7)
    response = client(server).audio.speech.create(
        model="tts-1", voice="echo", input=TEXT, response_format=response_format, extra_body={"seed": 7}
    )
    data = response.read()
    assert response.response.headers["x-seed"] == "7"
    assert response.response.headers["x-voice-preset"] == "v2/en_speaker_1"  # echo, in the tiny model's fallback
    if response_format == "pcm":
        np.testing.assert_array_equal(np.frombuffer(data, dtype="<i2"), expected)
        return
    audio, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 24000
    assert audio.shape == expected.shape
    if response_format in ("wav", "flac"):  # lossless: the very samples
        np.testing.assert_array_equal(audio, expected)
    else:  # lossy, yet the same signal
        correlation = np.corrcoef(audio.astype(np.float64), expected.astype(np.float64))[0, 1]
        assert correlation > 0.5, correlation


@pytest.mark.parametrize("response_format", ["wav", "pcm"])
def test_openai_streaming_response_gives_the_same_bytes(server, reference, response_format):
    expected = reference(TEXT, "v2/en_speaker_0", 11, "encodec")
    with client(server).audio.speech.with_streaming_response.create(
        model="bark-vocos",
        voice="v2/en_speaker_0",
        input=TEXT,
        response_format=response_format,
        extra_body={"seed": 11, "decoder": "encodec"},
    ) as response:
        assert response.headers["content-type"] == {"wav": "audio/wav", "pcm": "audio/pcm"}[response_format]
        data = b"".join(response.iter_bytes())
    header = wav_stream_header(24000) if response_format == "wav" else b""
    assert data == header + expected.tobytes()


def test_long_text_streams_chunk_by_chunk_and_equals_the_pipelines_audio(server, tiny_dir):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    options = {"voice_preset": "v2/en_speaker_1", "seed": 21, "progress": False}
    chunks = [to_pcm16(chunk.audio) for chunk in pipe.stream(LONG_TEXT, **options)]
    whole = to_pcm16(pipe(LONG_TEXT, **options).audio)
    assert len(chunks) > 2
    parts = []
    with client(server).audio.speech.with_streaming_response.create(
        model="bark-vocos", voice="echo", input=LONG_TEXT, response_format="pcm", extra_body={"seed": 21}
    ) as response:
        parts = list(response.iter_bytes())
    data = np.frombuffer(b"".join(parts), dtype="<i2")
    np.testing.assert_array_equal(data, np.concatenate(chunks))
    # pipe(...) decodes in one pass, the stream piece by piece: the same samples up to float rounding
    assert data.shape == whole.shape and np.abs(data.astype(np.int32) - whole).max() <= 1


def test_models_voices_and_health(server):
    headers = {"Authorization": f"Bearer {KEY}"}
    models = httpx.get(server.url + "/v1/models", headers=headers, timeout=10).json()
    assert [model["id"] for model in models["data"]] == ["bark-vocos"]
    assert [model.id for model in client(server).models.list()] == ["bark-vocos"]
    voices = httpx.get(server.url + "/v1/audio/voices", headers=headers, timeout=10).json()
    names = [voice["id"] for voice in voices["voices"]]
    assert names == ["alloy", "echo", "fable", "onyx", "nova", "shimmer", *TINY_VOICE_PRESETS]
    assert voices["decoders"] == ["vocos", "encodec"]
    missing = httpx.get(server.url + "/v1/nothing", headers=headers, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Not Found"
    wrong_method = httpx.get(server.url + "/v1/audio/speech", headers=headers, timeout=10)
    assert wrong_method.status_code == 405 and set(wrong_method.json()["error"]) == {"message", "type", "param", "code"}
    health = httpx.get(server.url + "/health", timeout=10)  # no key needed
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["queue"]["max_queue"] == 4


GOOD = {"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "wav", "seed": 1}
BAD_REQUESTS = {
    "malformed json": (b'{"input": "Hello", "voice": ', KEY, 400, None, "not valid JSON"),
    "not an object": (b'["Hello"]', KEY, 400, None, "must be a JSON object"),
    "input of wrong type": ({**GOOD, "input": 5}, KEY, 400, "input", "'input': Input should be a valid string"),
    "seed of wrong type": ({**GOOD, "seed": "one"}, KEY, 400, "seed", "'seed': Input should be a valid integer"),
    "missing input": ({"voice": "alloy"}, KEY, 400, "input", "'input': Field required"),
    "unknown field": ({**GOOD, "sede": 1}, KEY, 400, "sede", "Extra inputs are not permitted"),
    "empty input": ({**GOOD, "input": ""}, KEY, 400, "input", "empty or only whitespace"),
    "whitespace input": ({**GOOD, "input": " \n\t "}, KEY, 400, "input", "empty or only whitespace"),
    "unknown voice": ({**GOOD, "voice": "bob"}, KEY, 400, "voice", "unknown voice 'bob': use one of ['alloy'"),
    "unknown format": ({**GOOD, "response_format": "ogg"}, KEY, 400, "response_format", "use one of ['mp3'"),
    "aac": ({**GOOD, "response_format": "aac"}, KEY, 400, "response_format", "this libsndfile cannot write it"),
    "speed": ({**GOOD, "speed": 1.5}, KEY, 400, "speed", "speed 1.5 is not supported"),
    "instructions": ({**GOOD, "instructions": "whisper"}, KEY, 400, "instructions", "not supported"),
    "unknown decoder": ({**GOOD, "decoder": "hifigan"}, KEY, 400, "decoder", "'vocos' or 'encodec'"),
    "1 MB input": ({**GOOD, "input": "a" * 1_000_000}, KEY, 413, "input", "limited to 4096 characters"),
    "input over the limit": ({**GOOD, "input": "a " * 2049}, KEY, 413, "input", "has 4098 characters"),
    "lone surrogate input": (
        b'{"input": "Hi \\ud800 there", "voice": "alloy"}',
        KEY,
        400,
        "input",
        "the lone surrogate U+D800 at character 3",
    ),
    "seed of 5000 digits": (
        b'{"input": "Hi", "voice": "alloy", "seed": ' + b"9" * 5000 + b"}",
        KEY,
        400,
        None,
        "'seed' takes 0 to 2**64-1",
    ),
    "seed above 2**64-1": ({**GOOD, "seed": 2**64}, KEY, 400, "seed", "less than or equal to 18446744073709551615"),
    "negative seed": ({**GOOD, "seed": -1}, KEY, 400, "seed", "greater than or equal to 0"),
    "missing key": (GOOD, None, 401, None, "missing API key"),
    "wrong key": (GOOD, "not-the-key", 401, None, "incorrect API key"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_openai_errors_and_the_next_request_works(server, reference, case):
    body, key, status, param, message = BAD_REQUESTS[case]
    response = post(server, body, key=key)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert message in error["message"]
    assert error["param"] == param
    good = post(server, GOOD)
    assert good.status_code == 200
    assert good.content[44:] == reference(TEXT, "v2/en_speaker_0", 1).tobytes()


def test_openai_client_raises_its_own_error_types(server):
    with pytest.raises(openai.AuthenticationError):
        client(server, key="wrong").audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
    with pytest.raises(openai.BadRequestError, match="unknown voice"):
        client(server).audio.speech.create(model="tts-1", voice="bob", input=TEXT)


def test_generation_failure_is_a_500_without_traceback(server, monkeypatch):
    real_stream = server.pipe.stream

    def broken_stream(text, **options):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.pipe, "stream", broken_stream)
    response = post(server, GOOD)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert "secret" not in response.text and "Traceback" not in response.text

    def stream_that_breaks_after_one_chunk(text, **options):
        yield next(iter(real_stream(text, **options)))
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.pipe, "stream", stream_that_breaks_after_one_chunk)
    with pytest.raises(httpx.RemoteProtocolError):  # the headers are out: the body is cut off, not completed
        post(server, {**GOOD, "input": LONG_TEXT})
    monkeypatch.undo()
    assert post(server, GOOD).status_code == 200


def test_a_seed_out_of_range_is_a_400_from_the_schema(server):
    response = post(server, {**GOOD, "seed": -1})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "'seed': Input should be greater than or equal to 0"
    whole = post(server, {**GOOD, "seed": 1.0})  # a JSON integer written with a fraction part
    assert whole.status_code == 200 and whole.headers["x-seed"] == "1"


def test_load_every_request_gets_its_own_audio_or_503(server, reference):
    """24 concurrent requests, queue of 4: complete audio for its seed, voice and decoder, or 503 with Retry-After;
    /health answers throughout."""
    n = 24
    bodies = [
        {
            **GOOD,
            "seed": 100 + i,
            "voice": TINY_VOICE_PRESETS[i % 2],
            "decoder": ("vocos", "encodec")[i // 2 % 2],
            "response_format": ("wav", "pcm", "flac")[i % 3],
        }
        for i in range(n)
    ]
    health_codes = []
    done = threading.Event()

    def poll_health():
        while not done.is_set():
            health_codes.append(httpx.get(server.url + "/health", timeout=10).status_code)
            time.sleep(0.05)

    poller = threading.Thread(target=poll_health)
    poller.start()
    barrier = threading.Barrier(n, timeout=30)

    def request(body):
        barrier.wait()
        return post(server, body)

    try:
        with ThreadPoolExecutor(n) as pool:
            responses = list(pool.map(request, bodies, timeout=REQUEST_SECONDS * 2))
    finally:
        done.set()
        poller.join(30)

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 5  # the running request and the 4 queued at any moment
    assert health_codes and set(health_codes) == {200}
    for body, response in zip(bodies, responses, strict=True):
        if response.status_code == 503:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["code"] == "queue_full"
            continue
        expected = reference(TEXT, body["voice"], body["seed"], body["decoder"])
        if body["response_format"] == "pcm":
            audio = np.frombuffer(response.content, dtype="<i2")
        else:
            audio, rate = sf.read(io.BytesIO(response.content), dtype="int16")
            assert rate == 24000
        np.testing.assert_array_equal(audio, expected)
    stats = httpx.get(server.url + "/health", timeout=10).json()["queue"]
    assert stats["waiting"] == 0 and not stats["busy"]
    assert stats["rejected"] >= statuses.count(503)


class Gate:
    """Wraps the worker's generation: counts the chunks made and holds the generation at a gate after `after` chunks
    until `release()` (tests use it to keep the worker busy at a known point, not to time anything)."""

    def __init__(self, worker, after):
        self.worker, self.real, self.after = worker, worker.generate, after
        self.opened, self.reached, self.made = threading.Event(), threading.Event(), []
        worker.generate = self.generate

    def generate(self, text, options):
        if self.after == 0:
            self.reached.set()
            assert self.opened.wait(REQUEST_SECONDS)
        for chunk in self.real(text, options):
            self.made.append(chunk)
            yield chunk
            if len(self.made) == self.after:
                self.reached.set()
                assert self.opened.wait(REQUEST_SECONDS)

    def release(self):
        self.opened.set()
        self.worker.generate = self.real


def wait_for_counts(server, **expected):
    deadline = time.monotonic() + REQUEST_SECONDS
    while True:
        stats = httpx.get(server.url + "/health", timeout=10).json()["queue"]
        if all(stats[key] == value for key, value in expected.items()):
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


def test_a_client_that_leaves_the_queue_is_dropped_and_the_worker_goes_on(server, reference):
    before = httpx.get(server.url + "/health", timeout=10).json()["queue"]
    gate = Gate(server.worker, after=0)
    with ThreadPoolExecutor(1) as pool:
        try:
            running = pool.submit(post, server, GOOD)  # holds the worker at the gate
            assert gate.reached.wait(REQUEST_SECONDS)
            with pytest.raises(httpx.ReadTimeout):  # waits in the queue, then its client gives up
                httpx.post(
                    server.url + "/v1/audio/speech",
                    json={**GOOD, "seed": 2},
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=1.0,
                )
            wait_for_counts(server, cancelled=before["cancelled"] + 1, waiting=0)
        finally:
            gate.release()
        assert running.result(REQUEST_SECONDS).status_code == 200
    stats = wait_for_counts(server, busy=False, completed=before["completed"] + 1)
    assert stats["failed"] == before["failed"]
    assert post(server, {**GOOD, "seed": 3}).content[44:] == reference(TEXT, "v2/en_speaker_0", 3).tobytes()


def test_a_disconnect_in_mid_stream_stops_the_generation_and_frees_the_worker(server, reference):
    before = httpx.get(server.url + "/health", timeout=10).json()["queue"]
    gate = Gate(server.worker, after=1)
    body = {**GOOD, "input": LONG_TEXT, "response_format": "pcm"}
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        with httpx.stream("POST", server.url + "/v1/audio/speech", json=body, headers=headers, timeout=30) as response:
            assert response.status_code == 200
            assert next(response.iter_raw())  # the first chunk's audio arrived; then the client hangs up
        # either the worker went on to chunk 2 (held at the gate) before the server saw the disconnect, or it saw
        # the cancellation first and never asked for chunk 2
        deadline = time.monotonic() + REQUEST_SECONDS
        while not gate.reached.is_set():
            stats = httpx.get(server.url + "/health", timeout=10).json()["queue"]
            if stats["cancelled"] == before["cancelled"] + 1:
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        else:
            wait_for_counts(server, stopping=True)  # seen while chunk 2 was being generated
    finally:
        gate.release()
    stats = wait_for_counts(server, busy=False, cancelled=before["cancelled"] + 1)
    assert stats["completed"] == before["completed"] and stats["failed"] == before["failed"]
    assert len(gate.made) == (2 if gate.reached.is_set() else 1)  # nothing generated past the chunk in progress
    assert len(list(server.pipe.stream(LONG_TEXT, voice_preset="v2/en_speaker_0", seed=1, progress=False))) > 2
    assert post(server, {**GOOD, "seed": 4}).content[44:] == reference(TEXT, "v2/en_speaker_0", 4).tobytes()


def test_worker_runs_jobs_in_arrival_order_and_rejects_beyond_the_queue():
    release = threading.Event()
    order = []

    def generate(text, options):
        order.append(text)
        assert release.wait(30)
        yield text

    loop = asyncio.new_event_loop()
    worker = GenerationWorker(generate, max_queue=2)
    worker.start()
    try:
        jobs = [SpeechJob(f"job {i}", {}, loop) for i in range(4)]
        worker.submit(jobs[0])
        deadline = time.monotonic() + 30
        while not worker.stats()["busy"]:  # job 0 runs (blocked); the next two wait
            assert time.monotonic() < deadline
            time.sleep(0.01)
        worker.submit(jobs[1])
        worker.submit(jobs[2])
        with pytest.raises(QueueFullError, match="full \\(2 waiting\\)") as error:
            worker.submit(jobs[3])
        assert error.value.retry_after >= 1
        worker.cancel(jobs[1])  # a waiting job whose client left frees its slot
        worker.submit(jobs[3])
        release.set()
        while worker.stats()["completed"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        worker.stop()
        loop.close()
    assert order == ["job 0", "job 2", "job 3"]
    assert worker.stats() == {
        "waiting": 0,
        "max_queue": 2,
        "busy": False,
        "stopping": False,
        "completed": 3,
        "cancelled": 1,
        "failed": 0,
        "rejected": 1,
    }
