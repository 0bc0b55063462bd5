"""Shared test set-up: offline hub, deterministic torch, few threads."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

torch.set_num_threads(2)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bark_dir(tmp_path_factory):
    """A tiny random Bark folder written by `pipelines.tiny.save_tiny_bark` (the real save_pretrained layout)."""
    from pipelines.tiny import save_tiny_bark

    return save_tiny_bark(tmp_path_factory.mktemp("tiny") / "bark", seed=0)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """`make_tiny(DIR)`: tiny random Bark in DIR/bark and tiny random Vocos in DIR/vocos."""
    from pipelines.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny_full"), seed=0)
