"""The server's OpenAPI schema is its contract: schemathesis fuzzes every operation against a live tiny server.

Valid (schema-conforming) and invalid requests are generated. Bounded: a fixed number of examples per operation and
mode (`EXAMPLES`), no shrinking, loopback only on an ephemeral port; tiny random checkpoints, so a generation takes
milliseconds. Every response must match its declared status, content type and schema; errors keep OpenAI's shape.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402

from pipelines import TextToWavPipeline  # noqa: E402
from pipelines.server import BackgroundServer, ServerSettings, create_app  # noqa: E402

KEY = "fuzz-key"
EXAMPLES = 20  # per operation and generation mode


@pytest.fixture(scope="module")
def live(tiny_dir):
    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    server = BackgroundServer(create_app(pipe, ServerSettings(api_key=KEY, max_queue=4, max_input_chars=200))).start()
    assert server.url.startswith("http://127.0.0.1:")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(live.url + "/openapi.json")


def _fuzz(operation, mode, tried: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        tried.append(f"{operation.label} {response.status_code}")
        if response.status_code >= 400:
            error = response.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["message"]

    check()


def test_every_response_matches_the_schema(api_schema):
    tried: list[str] = []
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _fuzz(operation, schemathesis.GenerationMode.POSITIVE, tried)
        if operation.method.upper() == "POST":  # the GETs take no input that could be invalid
            _fuzz(operation, schemathesis.GenerationMode.NEGATIVE, tried)
    assert "POST /v1/audio/speech" in labels and "GET /v1/audio/voices" in labels
    assert any(item.startswith("POST /v1/audio/speech 200") for item in tried)  # generation ran, not only errors
    print(f"schemathesis: {len(tried)} requests over {len(labels)} operations, valid and invalid")
