"""EnCodec decoder versus Vocos, measured: score existing files, resynthesise real speech, or decode Bark's codes.

Three modes share one result type, `Comparison`:

1. `compare_files` / `compare_dirs` score files that already exist (any format and rate soundfile reads),
   against a reference with `metrics.reference_metrics`, or without one with `metrics.no_reference_metrics`.
2. `resynthesis.compare_resynthesis` encodes real speech with EnCodec, decodes the same codes with the EnCodec
   decoder and with Vocos, and scores both against the input.
3. `text.compare_text` generates Bark codes per text, seed and engine and decodes them both ways (no reference).

All audio is brought to `ANALYSIS_SAMPLING_RATE` (24 kHz, EnCodec's rate) with `audio_io.read_audio`/`resample`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..defaults import DEFAULT_MAX_LAG_MS
from ..io.audio_io import read_audio
from . import metrics as M
from .dnsmos import DNSMOS_METRICS, dnsmos
from .stats import Verdict, verdicts

__all__ = [
    "ANALYSIS_SAMPLING_RATE",
    "DEFAULT_MAX_LAG_MS",
    "Comparison",
    "ComparisonItem",
    "check_candidate_names",
    "check_max_lag_ms",
    "compare_dirs",
    "compare_files",
    "metric_names",
    "score_item",
]

ANALYSIS_SAMPLING_RATE = 24000
REFERENCE = "reference"
# Keys an item already uses in report.json; a candidate cannot be called like them.
RESERVED_NAMES = frozenset({"name", REFERENCE, "lag_ms", "seconds", "sources", "files"})
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
AUDIO_SUFFIXES = frozenset("." + ext.lower() for ext in sf.available_formats()) | {".mp3", ".aif"}


@dataclass
class ComparisonItem:
    """One compared item (a clip, a text).

    Attributes:
        name: Item name (file stem, or `text00`...).
        audio: `"reference"` (when there is one) and each candidate, float32 of shape `(T,)` at the
            comparison's sampling rate, as read or generated (not shifted).
        metrics: Candidate -> metric -> value.
        lag_ms: Candidate -> shift applied before the reference measures, in ms (empty without a reference).
        sources: Role -> the file the audio was read from; generated audio has no entry.
        codes: The EnCodec codes the candidates were decoded from, int64 of shape `(K, frames)`, when generated; an
            engine -> codes mapping when several engines generated them.
        notes: Why a candidate was not scored (its metrics are NaN), e.g. NaN samples or a silent candidate.
    """

    name: str
    audio: dict[str, np.ndarray]
    metrics: dict[str, dict[str, float]]
    lag_ms: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    codes: np.ndarray | dict[str, np.ndarray] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    """The result of a comparison in any mode.

    Attributes:
        mode: `"score"`, `"resynthesis"` or `"text"`.
        sampling_rate: Rate of every item's audio, in Hz.
        candidates: Candidate names in display order (e.g. `["encodec", "vocos"]`).
        metrics: Metric names measured (keys of `metrics.METRICS`).
        items: One entry per compared item.
        notes: Lines a reader must see (e.g. that random weights were used, or why a candidate was not scored on an
            item), shown in every report; the items' own notes are added to them.
        settings: What produced the numbers (bandwidth, lag search, model names), stored in report.json.
    """

    mode: str
    sampling_rate: int
    candidates: list[str]
    metrics: list[str]
    items: list[ComparisonItem]
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.notes = [*self.notes, *(note for item in self.items for note in item.notes if note not in self.notes)]

    @property
    def has_reference(self) -> bool:
        return any(REFERENCE in item.audio for item in self.items)

    def summary(self) -> dict[str, dict[str, float]]:
        """Candidate -> metric -> mean over items (NaN when the candidate was not scored on some item)."""
        return {
            candidate: {
                metric: float(np.mean([item.metrics[candidate][metric] for item in self.items]))
                for metric in self.metrics
            }
            for candidate in self.candidates
        }

    def best(self, values: Mapping[str, float], metric: str) -> str | None:
        """The candidate with the strictly best value of `metric` among `values` (candidate -> value).

        None when the metric has no preferred direction, or when the best value is shared (a tie). A NaN value (not
        scored) is never best: a scored candidate beats it.
        """
        direction = M.METRICS[metric].higher_is_better
        if direction is None or len(values) < 2:
            return None
        values = {name: value for name, value in values.items() if not np.isnan(value)}
        if not values:
            return None
        sign = 1.0 if direction else -1.0
        top = max(sign * value for value in values.values())
        leaders = [name for name, value in values.items() if sign * value == top]
        return leaders[0] if len(leaders) == 1 else None

    def wins(self) -> dict[str, dict[str, int]]:
        """Candidate -> metric -> how many items it has the strictly best value on (metrics with a direction)."""
        counts = {candidate: {} for candidate in self.candidates}
        for metric in self.metrics:
            if M.METRICS[metric].higher_is_better is None:
                continue
            for candidate in self.candidates:
                counts[candidate][metric] = 0
            for item in self.items:
                winner = self.best({c: item.metrics[c][metric] for c in self.candidates}, metric)
                if winner is not None:
                    counts[winner][metric] += 1
        return counts

    def ties(self) -> dict[str, int]:
        """Metric -> how many items have no single winner on it (metrics with a direction)."""
        return {
            metric: sum(
                self.best({c: item.metrics[c][metric] for c in self.candidates}, metric) is None for item in self.items
            )
            for metric in self.metrics
            if M.METRICS[metric].higher_is_better is not None
        }

    def verdicts(self, seed: int = 0) -> list[Verdict]:
        """Paired statistics for every pair of candidates on every metric with a direction (see `stats`)."""
        directions = {
            m: M.METRICS[m].higher_is_better for m in self.metrics if M.METRICS[m].higher_is_better is not None
        }
        values = {c: {m: [item.metrics[c][m] for item in self.items] for m in directions} for c in self.candidates}
        return verdicts(self.candidates, values, directions, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        """The content of report.json (audio excluded; file names of written audio are added by `report`)."""
        return {
            "mode": self.mode,
            "notes": list(self.notes),
            "settings": dict(self.settings),
            "sampling_rate": self.sampling_rate,
            "candidates": list(self.candidates),
            "metrics": {
                name: {
                    "label": M.METRICS[name].label,
                    "higher_is_better": M.METRICS[name].higher_is_better,
                    "needs_reference": M.METRICS[name].needs_reference,
                }
                for name in self.metrics
            },
            "summary": self.summary(),
            "wins": self.wins(),
            "ties": self.ties(),
            "verdicts": [verdict.to_dict() for verdict in self.verdicts()],
            "items": [
                {
                    "name": item.name,
                    **{candidate: dict(item.metrics[candidate]) for candidate in self.candidates},
                    "lag_ms": dict(item.lag_ms),
                    "seconds": {role: audio.size / self.sampling_rate for role, audio in item.audio.items()},
                    "sources": dict(item.sources),
                }
                for item in self.items
            ],
        }


def check_candidate_names(names: Sequence[str]) -> None:
    """Raises `ValueError` unless `names` are one or more unique, valid candidate names (the message names the bad)."""
    if len(names) < 1:
        raise ValueError("give at least one candidate (e.g. encodec=a.wav vocos=b.wav)")
    for name in names:
        if not _NAME_PATTERN.match(name) or name in RESERVED_NAMES:
            raise ValueError(
                f"invalid candidate name {name!r}: use letters, digits and _ . + - (not starting with a symbol), "
                f"and none of {sorted(RESERVED_NAMES)}"
            )
    duplicates = sorted({name for name in names if list(names).count(name) > 1})
    if duplicates:
        raise ValueError(f"candidate names must be unique, got {duplicates} more than once")


def check_max_lag_ms(max_lag_ms: float) -> float:
    """`max_lag_ms` if it is a finite number >= 0; a `ValueError` naming it otherwise."""
    if not np.isfinite(max_lag_ms) or max_lag_ms < 0:
        raise ValueError(f"max_lag_ms must be a finite number of milliseconds >= 0 (0: no alignment), got {max_lag_ms}")
    return float(max_lag_ms)


def _unusable(samples: np.ndarray, has_reference: bool) -> str | None:
    """Why a candidate cannot be scored (NaN or infinite samples; silence where a reference is compared), or None."""
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        return f"{bad} of {samples.size} samples are NaN or infinite"
    if has_reference and not np.any(samples):
        return "it is silent (all samples are zero)"
    return None


def score_item(
    name: str,
    candidates: Mapping[str, np.ndarray],
    sampling_rate: int,
    reference: np.ndarray | None = None,
    max_lag_ms: float = DEFAULT_MAX_LAG_MS,
) -> ComparisonItem:
    """Measure each candidate: against `reference` when given, with the no-reference measures otherwise.

    Args:
        name: Item name.
        candidates: Candidate name -> audio of shape `(T_c,)` at `sampling_rate`.
        sampling_rate: In Hz.
        reference: Audio of shape `(T,)` at `sampling_rate`, or None.
        max_lag_ms: Lag search range for `metrics.align` (reference mode only).

    A candidate that cannot be scored (NaN or infinite samples, or silence against a reference) gets NaN for every
    metric and a note saying why; the others are scored as usual. Its audio is kept with non-finite samples set to 0.

    Returns:
        The item, audio included.

    Raises:
        ValueError: Bad candidate names, a bad `max_lag_ms`, or a reference that is not finite or is silent.
    """
    check_candidate_names(list(candidates))
    check_max_lag_ms(max_lag_ms)
    audio: dict[str, np.ndarray] = {}
    results: dict[str, dict[str, float]] = {}
    lag_ms: dict[str, float] = {}
    notes: list[str] = []
    if reference is not None:
        audio[REFERENCE] = np.asarray(reference, dtype=np.float32)
        problem = _unusable(audio[REFERENCE], has_reference=True)
        if problem:
            raise ValueError(f"item {name!r}: the reference cannot be compared against: {problem}")
    for candidate, samples in candidates.items():
        samples = np.asarray(samples, dtype=np.float32)
        problem = _unusable(samples, has_reference=reference is not None)
        audio[candidate] = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        if problem:
            names = metric_names(reference is not None)
            results[candidate] = {metric: float("nan") for metric in names}
            notes.append(f"item {name!r}, candidate {candidate!r} not scored: {problem}")
            continue
        if reference is None:
            results[candidate] = M.no_reference_metrics(samples, sampling_rate)
        else:
            ref, cand, lag = M.align(audio[REFERENCE], samples, sampling_rate, max_lag_ms)
            try:
                results[candidate] = M.reference_metrics(ref, cand, sampling_rate)
            except ValueError as error:
                raise ValueError(f"item {name!r}, candidate {candidate!r}: {error}") from error
            lag_ms[candidate] = 1000.0 * lag / sampling_rate
        results[candidate].update(dnsmos(samples, sampling_rate))
    return ComparisonItem(name=name, audio=audio, metrics=results, lag_ms=lag_ms, notes=notes)


def metric_names(has_reference: bool) -> list[str]:
    """The measures of a mode: with a reference its reference measures, without one the descriptive ones; DNSMOS in
    both."""
    chosen = [name for name, metric in M.METRICS.items() if metric.needs_reference == has_reference]
    return [name for name in chosen if name not in DNSMOS_METRICS] + list(DNSMOS_METRICS)


def compare_files(
    candidates: Mapping[str, str | os.PathLike],
    reference: str | os.PathLike | None = None,
    max_lag_ms: float = DEFAULT_MAX_LAG_MS,
    name: str | None = None,
) -> Comparison:
    """Score one set of existing files: each candidate against `reference`, or without one.

    Args:
        candidates: Candidate name -> audio file (any format and rate soundfile reads, MP3 included).
        reference: The clean reference file, or None for the no-reference measures.
        max_lag_ms: Lag search range (see `metrics.align`); 0 disables it.
        name: Item name; the reference's (or first candidate's) file stem by default.

    Returns:
        A `Comparison` with mode `"score"` and one item.
    """
    check_candidate_names(list(candidates))
    sources = {candidate: str(path) for candidate, path in candidates.items()}
    if reference is not None:
        sources = {REFERENCE: str(reference), **sources}
    item = _score_sources(name or Path(next(iter(sources.values()))).stem, sources, max_lag_ms)
    return Comparison(
        mode="score",
        sampling_rate=ANALYSIS_SAMPLING_RATE,
        candidates=list(candidates),
        metrics=metric_names(reference is not None),
        items=[item],
        settings={"max_lag_ms": max_lag_ms},
    )


def _score_sources(name: str, sources: Mapping[str, str], max_lag_ms: float) -> ComparisonItem:
    audio = {role: read_audio(path, ANALYSIS_SAMPLING_RATE)[0] for role, path in sources.items()}
    reference = audio.pop(REFERENCE, None)
    item = score_item(name, audio, ANALYSIS_SAMPLING_RATE, reference=reference, max_lag_ms=max_lag_ms)
    item.sources = dict(sources)
    return item


def _audio_files_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in AUDIO_SUFFIXES:
            if path.stem in files:
                raise ValueError(
                    f"two audio files share the name {path.stem!r} in {folder}: {files[path.stem].name}, {path.name}"
                )
            files[path.stem] = path
    if not files:
        raise ValueError(f"no audio files in {folder} (looked for {sorted(AUDIO_SUFFIXES)})")
    return files


def compare_dirs(
    candidate_dirs: Mapping[str, str | os.PathLike],
    reference_dir: str | os.PathLike | None = None,
    max_lag_ms: float = DEFAULT_MAX_LAG_MS,
) -> Comparison:
    """Score folders of existing files, paired by file name without its extension (`a.wav` pairs with `a.mp3`).

    Every folder must hold the same names; hidden files and files that are not audio are ignored.

    Args:
        candidate_dirs: Candidate name -> folder.
        reference_dir: Folder of references, or None for the no-reference measures.
        max_lag_ms: Lag search range (see `metrics.align`); 0 disables it.

    Returns:
        A `Comparison` with mode `"score"`, one item per name, sorted by name.

    Raises:
        ValueError: The folders do not hold the same names (the message lists the unmatched ones per folder).
    """
    check_candidate_names(list(candidate_dirs))
    folders = {candidate: Path(path) for candidate, path in candidate_dirs.items()}
    if reference_dir is not None:
        folders = {REFERENCE: Path(reference_dir), **folders}
    listings = {role: _audio_files_by_stem(folder) for role, folder in folders.items()}
    everything = set().union(*(set(files) for files in listings.values()))
    problems = [
        f"{folder} lacks {sorted(everything - set(listings[role]))}"
        for role, folder in folders.items()
        if everything - set(listings[role])
    ]
    if problems:
        raise ValueError("unmatched file names (files are paired by name without extension): " + "; ".join(problems))
    items = [
        _score_sources(stem, {role: str(listings[role][stem]) for role in folders}, max_lag_ms)
        for stem in sorted(everything)
    ]
    return Comparison(
        mode="score",
        sampling_rate=ANALYSIS_SAMPLING_RATE,
        candidates=list(candidate_dirs),
        metrics=metric_names(reference_dir is not None),
        items=items,
        settings={"max_lag_ms": max_lag_ms},
    )
