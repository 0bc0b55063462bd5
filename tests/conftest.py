"""Shared test set-up: offline hub, deterministic torch, few threads."""

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# no tuning record unless a test asks for one (in its own folder): choices measured by one test must not reach others
os.environ["BARK_VOCOS_TUNING_RECORD"] = "off"

import torch  # noqa: E402

torch.set_num_threads(2)


import pytest  # noqa: E402

from bark_vocos.bark.attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS  # noqa: E402
from bark_vocos.bark.decoder import DECODE_ENGINES  # noqa: E402
from bark_vocos.bark.int8 import INT8_KERNELS  # noqa: E402
from bark_vocos.bark.optimized import CHOICE_VARIABLES  # noqa: E402
from bark_vocos.choices import CHOICES  # noqa: E402
from bark_vocos.kernels import FORCE_VARIABLE  # noqa: E402
from bark_vocos.settings import Settings, override, settings  # noqa: E402

# Kernel and decode-engine choices are measured per process, and the candidates differ in rounding (exact mode) or in
# quantization (fast mode's decode engines): tests that compare audio made in two processes pin every choice, as the
# README's "Reproducibility" says a user would.
PINNED_KERNELS = {
    FORCE_VARIABLE: "aten",
    INT8_KERNELS.variable: "fbgemm",
    DECODE_ENGINES.variable: "torch",
    ATTENTION_KERNELS.variable: "float32",
    EXACT_ATTENTION_KERNELS.variable: "float32",
}
assert set(PINNED_KERNELS) == set(CHOICE_VARIABLES), "a measured choice of the stages is not pinned here"


@pytest.fixture(autouse=True)
def _measured_choices_restored() -> Iterator[None]:
    """Every test leaves the registry of measured choices as it found it (a test may `reset` a kind to time anew)."""
    saved = CHOICES.snapshot()
    yield
    CHOICES.restore(saved)


def _pinned(variables: dict[str, str | None]) -> Settings:
    """The engine settings in force as if `variables` were also set (None: unset), checked as the environment's are."""
    merged = {**settings().environ(), **variables}
    return Settings.from_environ({name: value for name, value in merged.items() if value is not None})


@pytest.fixture
def pins() -> Iterator[Callable[[dict[str, str | None]], Settings]]:
    """`pins({variable: value or None})`: until the test ends, the engine settings as if those `BARK_VOCOS_*` variables
    were set (None: unset), in this process (`bark_vocos.settings.override`); a bad value raises as at start-up."""
    with ExitStack() as stack:
        yield lambda variables: stack.enter_context(override(**dataclasses.asdict(_pinned(variables))))


@contextmanager
def _pinned_kernels() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch, override(**dataclasses.asdict(_pinned(PINNED_KERNELS))):
        for variable, name in PINNED_KERNELS.items():
            patch.setenv(variable, name)  # for the processes started inside the block
        patch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))  # a child's default: 1 per physical core
        yield


@pytest.fixture(scope="session")
def pin_kernels():
    """`with pin_kernels():` pins every measured choice inside the block, in this process and in the processes it
    starts (they inherit the variables), and gives those processes this one's torch thread count."""
    return _pinned_kernels


@pytest.fixture(scope="session")
def tiny_bark_dir(tmp_path_factory):
    """A tiny random Bark folder written by `bark_vocos.testing.save_tiny_bark` (the real save_pretrained layout)."""
    from bark_vocos.testing import save_tiny_bark

    return save_tiny_bark(tmp_path_factory.mktemp("tiny") / "bark", seed=0)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """`make_tiny(DIR)`: tiny random Bark in DIR/bark and tiny random Vocos in DIR/vocos."""
    from bark_vocos.testing import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny_full"), seed=0)


@pytest.fixture(scope="module")
def history_prompt():
    """A random Bark speaker prompt: 300 semantic tokens, 450 frames of 2 coarse and 8 fine codebooks."""
    generator = torch.Generator().manual_seed(3)
    return {
        "semantic_prompt": torch.randint(0, 10_000, (300,), generator=generator),
        "coarse_prompt": torch.randint(0, 1024, (2, 450), generator=generator),
        "fine_prompt": torch.randint(0, 1024, (8, 450), generator=generator),
    }
