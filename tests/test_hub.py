"""Loading from the hub: one clear error line, and a fast one when the hub cannot be reached."""

import time

import pytest

from bark_vocos import ModelNotAvailableError, VocosEncodecModel, hub


def test_unreachable_hub_fails_fast_with_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def no_network(self, repo_id, **kwargs):
        calls.append((repo_id, kwargs.get("timeout")))
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", no_network)
    monkeypatch.setattr(hub, "_cached", lambda repo_id: False)
    hub._check_reachable.cache_clear()
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError) as caught:
        VocosEncodecModel.from_pretrained("someone/not-reachable-vocos")
    assert time.perf_counter() - start < 5
    message = str(caught.value)
    assert "'someone/not-reachable-vocos'" in message and "cannot be reached" in message
    assert "--vocoder PATH" in message and "\n" not in message
    assert calls == [("someone/not-reachable-vocos", hub._REACHABILITY_TIMEOUT_S)]


def test_offline_mode_names_the_setting(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError, match="HF_HUB_OFFLINE is set"):
        VocosEncodecModel.from_pretrained("someone/not-cached-vocos")


def test_local_folders_skip_the_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def must_not_call(*args, **kwargs):
        raise AssertionError("a local folder must not reach the hub")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", must_not_call)
    from bark_vocos.testing import save_tiny_vocos

    path = save_tiny_vocos(tmp_path / "vocos")
    assert VocosEncodecModel.from_pretrained(path).config.model_type == "vocos_encodec"
