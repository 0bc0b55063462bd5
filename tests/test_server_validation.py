"""The speech request's validation without HTTP: `parse_speech_request` and `validate` return a checked request or raise
OpenAI-shaped `ApiError`s naming the field, in the order the server applies them; the key dependency alone."""

import asyncio
import json

import pytest

pytest.importorskip("fastapi")

from starlette.requests import Request  # noqa: E402

from pipelines.server.routes import api_key_dependency  # noqa: E402
from pipelines.server.schemas import ApiError  # noqa: E402
from pipelines.server.validation import (  # noqa: E402
    CheckedSpeech,
    SpeechCapabilities,
    parse_speech_request,
    validate,
)

CAPABILITIES = SpeechCapabilities(
    voices={"alloy": "v2/en_speaker_0", "plain": None},
    formats=("mp3", "wav", "pcm"),
    decoders=("encodec",),
    max_input_chars=20,
)
GOOD = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "wav", "decoder": "encodec"}


def body(**fields) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


def error(call) -> ApiError:
    with pytest.raises(ApiError) as raised:
        call()
    return raised.value


def test_a_good_request_becomes_a_checked_request_with_its_preset():
    checked = validate(parse_speech_request(body(seed=7.0, voice={"id": "alloy"})), CAPABILITIES)
    assert checked == CheckedSpeech(
        text="Hello there.",
        voice_name="alloy",
        preset="v2/en_speaker_0",
        response_format="wav",
        decoder="encodec",
        seed=7,
    )
    assert validate(parse_speech_request(body(voice="plain")), CAPABILITIES).preset is None
    assert validate(parse_speech_request(body(seed=None)), CAPABILITIES).seed is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"input": "x", "voice": "alloy", "seed": ' + b"9" * 5000 + b"}", "thousands of digits"),
        (body(seed="7"), "'seed'"),
        (body(seed=-1), "'seed'"),
        (body(sed=7), "'sed'"),
        (json.dumps({"voice": "alloy"}).encode(), "'input'"),
    ],
)
def test_parse_refuses_bodies_the_schema_refuses_with_a_400(raw, message):
    raised = error(lambda: parse_speech_request(raw))
    assert raised.status == 400
    assert message in raised.body["error"]["message"]
    assert raised.body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("fields", "status", "param", "message"),
    [
        ({"input": "   "}, 400, "input", "empty or only whitespace"),
        ({"input": "x" * 21}, 413, "input", "has 21 characters; this server accepts at most 20"),
        ({"voice": "bob"}, 400, "voice", "unknown voice 'bob': use one of ['alloy', 'plain']"),
        ({"response_format": "aac"}, 400, "response_format", "(this libsndfile cannot write it)"),
        ({"response_format": "ogg"}, 400, "response_format", "use one of ['mp3', 'wav', 'pcm']"),
        ({"speed": 1.5}, 400, "speed", "speed 1.5 is not supported"),
        ({"instructions": "whisper"}, 400, "instructions", "not supported by Bark"),
        ({"stream_format": "sse"}, 400, "stream_format", "'sse' is not supported"),
        ({"decoder": "vocos"}, 400, "decoder", "decoder 'vocos' needs a vocoder: use one of ['encodec']"),
    ],
)
def test_validate_names_the_bad_field_and_the_valid_values(fields, status, param, message):
    raised = error(lambda: validate(parse_speech_request(body(**fields)), CAPABILITIES))
    assert raised.status == status
    assert raised.body["error"]["param"] == param
    assert message in raised.body["error"]["message"]
    if status == 413:
        assert raised.body["error"]["code"] == "input_too_long"


def test_validate_checks_in_order_input_before_voice_before_format():
    raised = error(
        lambda: validate(parse_speech_request(body(input=" ", voice="bob", response_format="ogg")), CAPABILITIES)
    )
    assert raised.body["error"]["param"] == "input"
    raised = error(lambda: validate(parse_speech_request(body(voice="bob", response_format="ogg")), CAPABILITIES))
    assert raised.body["error"]["param"] == "voice"


def test_validate_reads_the_live_voice_table():
    voices = {"alloy": "v2/en_speaker_0"}
    capabilities = SpeechCapabilities(voices, ("wav",), ("encodec",), 100)
    assert error(lambda: validate(parse_speech_request(body(voice="mine")), capabilities)).status == 400
    voices["mine"] = "uploaded arrays"
    assert validate(parse_speech_request(body(voice="mine")), capabilities).preset == "uploaded arrays"


def request_with(headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/v1/models", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Basic secret"}, "missing API key"),
        ({"Authorization": "Bearer  "}, "missing API key"),
        ({"Authorization": "Bearer wrong"}, "incorrect API key"),
    ],
)
def test_the_key_dependency_refuses_a_missing_or_wrong_key_with_a_401(headers, message):
    check = api_key_dependency("secret")
    raised = error(lambda: asyncio.run(check(request_with(headers))))
    assert raised.status == 401
    assert raised.body["error"]["code"] == "invalid_api_key"
    assert message in raised.body["error"]["message"]


def test_the_key_dependency_lets_the_right_key_through_and_any_without_a_key():
    assert asyncio.run(api_key_dependency("secret")(request_with({"Authorization": "Bearer secret"}))) is None
    assert asyncio.run(api_key_dependency("secret")(request_with({"Authorization": "bearer  secret "}))) is None
    assert asyncio.run(api_key_dependency(None)(request_with({}))) is None
