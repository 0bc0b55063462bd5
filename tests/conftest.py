"""Shared test set-up: offline hub, deterministic torch, few threads."""

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# This process keeps no tuning record of its own (its measured choices: `_SESSION_CHOICES` below); the processes the
# tests start share one with it for the session (`_session_record`); a test that needs another sets its own.
os.environ["BARK_VOCOS_TUNING_RECORD"] = "off"

import torch  # noqa: E402

# Two threads; under pytest-xdist (`make test` runs two workers) at most each worker's share of the cores, since two
# workers of two threads on two cores oversubscribe them.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, len(os.sched_getaffinity(0)) // _WORKERS)))


import pytest  # noqa: E402

from bark_vocos import timing  # noqa: E402
from bark_vocos.bark.attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS  # noqa: E402
from bark_vocos.bark.decoder import DECODE_ENGINES  # noqa: E402
from bark_vocos.bark.int8 import INT8_KERNELS  # noqa: E402
from bark_vocos.bark.optimized import CHOICE_VARIABLES  # noqa: E402
from bark_vocos.choices import CHOICES, ChoiceKind, ChoiceRegistry  # noqa: E402
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


# Measured choices timed by earlier tests, by kind: the suite times each key once, as a machine does (its tuning
# record), instead of once per test. A key's choice is one of its candidates, which compute the same thing, so no
# test's outcome depends on which test timed it. Only real timings are kept: not a choice a test records or pins,
# nor one timed with a fake clock, `fastest` or cache eviction; a test that resets a kind times it anew.
_SESSION_CHOICES: dict[str, dict[tuple, str]] = {}
_REAL_TIMING = (timing.fastest, timing.evict_caches, time.perf_counter)


def _timed_for_real(kind: ChoiceKind, key: tuple) -> bool:
    """Whether `kind.choose(key, ...)` is about to time `key` with the real clock on one of the registry's kinds."""
    real = (timing.fastest, timing.evict_caches, time.perf_counter) == _REAL_TIMING
    ours = CHOICES.kinds.get(kind.name) is kind
    return real and ours and key not in kind.choices and not settings().pin(kind.variable)


@pytest.fixture(scope="session", autouse=True)
def _choices_timed_once_per_session() -> Iterator[None]:
    """Keep each key's real timing for the session (`_SESSION_CHOICES`)."""
    choose = ChoiceKind.choose

    def choose_and_keep(kind: ChoiceKind, key: tuple, *args, **kwargs) -> str:
        timed = _timed_for_real(kind, key)
        choice = choose(kind, key, *args, **kwargs)
        if timed:
            _SESSION_CHOICES.setdefault(kind.name, {})[key] = choice
        return choice

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ChoiceKind, "choose", choose_and_keep)
        yield


@pytest.fixture(scope="session", autouse=True)
def _session_record(tmp_path_factory) -> Iterator[Path]:
    """The tuning record of the processes the tests start (commands, servers, notebook kernels), one for the session,
    which also holds `_SESSION_CHOICES`: a kernel is timed by the first process that needs it, this one included, and
    read by the others, as by the processes on a user's machine. This process's own setting stays "off"."""
    record = tmp_path_factory.mktemp("tuning") / "tuning.json"
    with override(tuning_record="off"), pytest.MonkeyPatch.context() as patch:
        patch.setenv("BARK_VOCOS_TUNING_RECORD", str(record))
        yield record


_SHARED: dict[str, object] = {"record": None, "choices": 0}  # the record's state as last read or written, and ours


def _share_session_choices(record: Path) -> None:
    """Add to `_SESSION_CHOICES` what the started processes timed (the record, when it changed), and write into the
    record what this process timed since it last did (`ChoiceRegistry.save` keeps the entries the file has)."""
    scratch = ChoiceRegistry(ChoiceKind(kind.name, kind.key_type, kind.variable) for kind in CHOICES.kinds.values())
    state = (record.stat().st_mtime_ns, record.stat().st_size) if record.exists() else None
    if state is not None and state != _SHARED["record"]:
        scratch.load(record)
        for name, timed in scratch.snapshot().items():
            for key, choice in timed.items():
                _SESSION_CHOICES.setdefault(name, {}).setdefault(key, choice)
    count = sum(len(timed) for timed in _SESSION_CHOICES.values())
    if count != _SHARED["choices"]:
        scratch.restore(_SESSION_CHOICES)
        scratch.save(record)
        state = (record.stat().st_mtime_ns, record.stat().st_size)
    _SHARED.update(record=state, choices=count)


@pytest.fixture(autouse=True)
def _measured_choices_restored(_choices_timed_once_per_session, _session_record) -> Iterator[None]:
    """Every test starts with the choices timed so far in the session (`_SESSION_CHOICES`, shared with the processes
    the tests start) and leaves the registry of measured choices as it found it (a test may `reset` a kind to time
    anew)."""
    _share_session_choices(_session_record)
    saved = CHOICES.snapshot()
    for name, timed in _SESSION_CHOICES.items():
        for key, choice in timed.items():
            if key not in CHOICES[name].choices:
                CHOICES[name].record(key, choice)
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
