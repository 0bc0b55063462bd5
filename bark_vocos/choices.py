"""The one registry of measured choices: every kernel or engine the model layer picks by timing, under a typed key
per kind of choice, forced by one variable per kind, reported for the bench, reset for tests, saved and loaded per
machine.

A choice is timed the first time its key is seen (`timing.fastest`) and kept for the process; `save`/`load` keep it
for the machine: a record is keyed by what decides it (the CPU model and the instruction set torch uses, the ISA
limits set in the environment, torch's and ONNX Runtime's versions; threads and shapes are in each key), and a record
made elsewhere, or unreadable, is ignored with one warning.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from . import timing
from .permissions import write_cache_file
from .settings import settings

__all__ = [
    "CHOICES",
    "FORMAT",
    "ISA_VARIABLES",
    "AttentionKey",
    "ChoiceKind",
    "ChoiceRegistry",
    "Int8Key",
    "LinearKey",
    "StepEngineKey",
    "StepKernelKey",
    "cpu_model",
    "machine_fingerprint",
]

FORMAT = 1  # the tuning record's layout; a record of another layout is ignored
# The settings that hold each CPU library of ours to an instruction set (e.g. all four to AVX2 on an AVX-512 machine):
# torch's own kernels, oneDNN, MKL, and fbgemm (the fast engine's int8 products). They decide which kernel wins.
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "FBGEMM_ENABLE_INSTRUCTIONS")


class LinearKey(NamedTuple):
    """A float32 linear layer's kernel (`kernels.linear`): rows bucket (`kernels.rows_bucket`), weight shape."""

    rows: int
    out_features: int
    in_features: int
    gelu: bool
    prepack: bool
    threads: int


class Int8Key(NamedTuple):
    """An int8 linear layer's kernel (`bark.int8.Int8Linear`): rows bucket, weight shape."""

    rows: int
    in_features: int
    out_features: int
    gelu: bool
    threads: int


class AttentionKey(NamedTuple):
    """How attention over several queries runs (`bark.attention.attention`): queries and keys as rows buckets."""

    heads: int
    queries: int
    keys: int
    head_size: int
    masked: bool
    causal: bool
    threads: int


class StepKernelKey(NamedTuple):
    """The one kernel of every layer of a PyTorch decode step (`bark.decoder`): batch as `batch.bit_length()`."""

    hidden_size: int
    layers: int
    batch: int
    threads: int


class StepEngineKey(NamedTuple):
    """The implementation of a decode step, PyTorch or ONNX Runtime (`bark.decoder`), float32 or 8-bit weights."""

    hidden_size: int
    layers: int
    batch: int
    threads: int
    int8: bool


class ChoiceKind:
    """One kind of measured choice: the choice per key, timed on first use, or the candidate `variable` names.

    Args:
        name: the kind's name in reports and records.
        key_type: the `NamedTuple` its keys are.
        variable: the `bark_vocos.settings` variable whose pin, a candidate's name, forces it without timing.
    """

    def __init__(self, name: str, key_type: type[tuple], variable: str) -> None:
        self.name = name
        self.key_type = key_type
        self.variable = variable
        self.choices: dict[tuple, str] = {}

    def _check(self, key: tuple) -> None:
        if type(key) is not self.key_type:
            raise TypeError(f"a {self.name} choice is keyed by {self.key_type.__name__}, got {key!r}")

    def choose(
        self,
        key: tuple,
        candidates: dict[str, Callable[[], object]],
        cold: bool = True,
        timed: Callable[[], dict[str, Callable[[], object]]] | None = None,
    ) -> str:
        """The kept choice for `key`, or the fastest of `candidates` (timed now, from cold caches unless `cold` is
        False: see `timing.fastest`), or the one `self.variable` pins (`bark_vocos.settings`).

        `timed`, when given, makes the candidates to time instead (the same names, on a part of the input that orders
        them as the whole would); it is called only when a timing runs.

        Raises:
            TypeError: `key` is not a `key_type`.
            ValueError: `self.variable` pins no candidate here.
        """
        self._check(key)
        forced = settings().pin(self.variable)
        if forced:
            if forced not in candidates:
                raise ValueError(f"{self.variable}={forced!r} is not a kernel here; valid: {sorted(candidates)}")
            return forced
        if key not in self.choices:
            self.choices[key] = timing.fastest(candidates if timed is None else timed(), cold=cold)
        return self.choices[key]

    def record(self, key: tuple, choice: str) -> None:
        """Keep `choice` for `key` as if it had been measured (a loaded record, a test).

        Raises:
            TypeError: `key` is not a `key_type`, or `choice` not a string.
        """
        self._check(key)
        if not isinstance(choice, str):
            raise TypeError(f"a choice is a candidate's name, got {choice!r}")
        self.choices[key] = choice

    def reset(self) -> None:
        """Forget every choice of this kind (the next use of a key times it again)."""
        self.choices.clear()


def cpu_model() -> str:
    """The CPU's model name (from `/proc/cpuinfo` on Linux, else what `platform` reports)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_fingerprint() -> dict[str, Any]:
    """What decides the measured choices besides their keys: the CPU model, torch's instruction set and the ISA limits
    set in the environment, and the versions of torch and ONNX Runtime."""
    return {
        "cpu": cpu_model(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "isa_limits": {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ},
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime"),
    }


class ChoiceRegistry:
    """Every kind of measured choice, by name.

    Args:
        kinds: the kinds, each with its own name.
    """

    def __init__(self, kinds: Iterable[ChoiceKind]) -> None:
        self.kinds = {kind.name: kind for kind in kinds}

    def __getitem__(self, name: str) -> ChoiceKind:
        return self.kinds[name]

    def report(self) -> list[dict[str, Any]]:
        """Every choice kept, as `{"kind": name, "key": {field: value}, "choice": name}`, sorted by kind and key."""
        return [
            {"kind": kind.name, "key": key._asdict(), "choice": choice}
            for kind in sorted(self.kinds.values(), key=lambda kind: kind.name)
            for key, choice in sorted(kind.choices.items())
        ]

    def reset(self, *names: str) -> None:
        """Forget the choices of the kinds named (of every kind when none is named).

        Raises:
            KeyError: an unknown kind.
        """
        for name in names or tuple(self.kinds):
            self.kinds[name].reset()

    def snapshot(self) -> dict[str, dict[tuple, str]]:
        """A copy of every kind's choices, for `restore`."""
        return {name: dict(kind.choices) for name, kind in self.kinds.items()}

    def restore(self, snapshot: dict[str, dict[tuple, str]]) -> None:
        """Put back the choices of a `snapshot` (and only those)."""
        for name, kind in self.kinds.items():
            kind.choices = dict(snapshot.get(name, {}))

    def save(self, path: str | os.PathLike) -> None:
        """Write every choice kept, with this machine's fingerprint, to the JSON file `path`, atomically (a reader
        sees the old record or the new one, never a part).

        The choices a record already at `path` holds for keys not kept here (another process's, made on this machine
        with these versions) are written too; an unreadable or foreign record there is replaced.
        """
        path = Path(path)
        choices = self.report()
        kept = {(entry["kind"], tuple(entry["key"].items())) for entry in choices}
        entries, _ = self._read(path)
        for kind, key, choice in entries:
            if (kind.name, tuple(key._asdict().items())) not in kept:
                choices.append({"kind": kind.name, "key": key._asdict(), "choice": choice})
        choices.sort(key=lambda entry: (entry["kind"], tuple(entry["key"].values())))
        record = {"format": FORMAT, "machine": machine_fingerprint(), "choices": choices}
        write_cache_file(path, json.dumps(record, indent=1).encode("utf-8"))

    def load(self, path: str | os.PathLike) -> int:
        """Keep the choices of the record at `path` (over any measured already) and return how many.

        A missing file loads nothing. A record from another machine or other versions (`machine_fingerprint`), of
        another layout, or unreadable, loads nothing, with one `UserWarning` that says why.
        """
        path = Path(path)
        entries, problem = self._read(path)
        if problem is not None:
            warnings.warn(f"bark-vocos: ignored the tuning record {path}: {problem}", stacklevel=2)
            return 0
        for kind, key, choice in entries:
            kind.record(key, choice)
        return len(entries)

    def _read(self, path: Path) -> tuple[list[tuple[ChoiceKind, tuple, str]], str | None]:
        """The entries of the record at `path` if it is readable and made here (nothing for a missing file), and why
        not otherwise."""
        if not path.exists():
            return [], None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            entries = self._entries(record)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            return [], f"unreadable ({error})"
        here = machine_fingerprint()
        if record["machine"] != here:
            changed = sorted(name for name in here if record["machine"].get(name) != here[name])
            return [], f"made with another {', '.join(changed)}"
        return entries, None

    def _entries(self, record: Any) -> list[tuple[ChoiceKind, tuple, str]]:
        """The `(kind, typed key, choice)` of a parsed record, every one checked before any is kept.

        Raises:
            ValueError, TypeError, KeyError: the record is not one `save` writes.
        """
        if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(record["machine"], dict):
            raise ValueError(f"not a tuning record of format {FORMAT}")
        entries = []
        for entry in record["choices"]:
            kind = self.kinds[entry["kind"]]
            fields = entry["key"]
            if set(fields) != set(kind.key_type._fields) or not all(type(v) in (int, bool) for v in fields.values()):
                raise ValueError(f"a {kind.name} key has the fields {sorted(fields)}")
            if not isinstance(entry["choice"], str):
                raise TypeError(f"choice {entry['choice']!r} is not a name")
            entries.append((kind, kind.key_type(**fields), entry["choice"]))
        return entries


# Every measured choice of the model layer. Kinds that share a variable are forced together by it.
CHOICES = ChoiceRegistry(
    [
        ChoiceKind("linear", LinearKey, "BARK_VOCOS_KERNEL"),
        ChoiceKind("int8", Int8Key, "BARK_VOCOS_INT8_KERNEL"),
        ChoiceKind("attention", AttentionKey, "BARK_VOCOS_ATTENTION"),
        ChoiceKind("exact_attention", AttentionKey, "BARK_VOCOS_EXACT_ATTENTION"),
        ChoiceKind("step_linear", StepKernelKey, "BARK_VOCOS_KERNEL"),
        ChoiceKind("step_int8", StepKernelKey, "BARK_VOCOS_INT8_KERNEL"),
        ChoiceKind("decode_engine", StepEngineKey, "BARK_VOCOS_DECODE_ENGINE"),
    ]
)
