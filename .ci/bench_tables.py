"""The speed tables of README.md and docs/, made from the benchmark JSON in docs/benchmarks/ (`make bench-tables`).

Each table lies between `<!-- bench-table: NAME -->` and `<!-- /bench-table -->` in a Markdown file and is rewritten
whole from the files `docs/benchmarks/KIND-*.json` (written by `bark-vocos bench KIND --out`), so no figure is ever
typed by hand. `--check` writes nothing and exits 1 naming each table that differs from its JSON (the test suite
runs it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "docs" / "benchmarks"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"(<!-- bench-table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench-table -->)", re.S)
STAGES = ("semantic", "coarse", "fine", "decode", "total")


def _load(kind: str) -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text(encoding="utf-8"))) for path in sorted(BENCHMARKS.glob(f"{kind}-*.json"))]


def _machine(run: dict) -> str:
    """`CPU, ISA, N threads`, with the ISA limits named when the run was held to a lower ISA."""
    machine = run["machine"]
    label = f"{machine['cpu']}, {machine['isa']}"
    if machine.get("isa_limits"):
        label += f" (held by {len(machine['isa_limits'])} ISA variables, named in the command below)"
    if machine.get("gpu"):
        label += f", GPU {machine['gpu']}"
    return f"{label}, {machine['threads']} threads"


def _limits_prefix(run: dict) -> str:
    limits = run["machine"].get("isa_limits") or {}
    return "".join(f"{name}={value} " for name, value in sorted(limits.items()))


def _tiny(run: dict) -> bool:
    """A smoke run on a tiny model (`--quick`/`--tiny`): its figures only show that the code path runs."""
    return bool(run.get("tiny")) or run.get("model", {}).get("hidden_size", 768) < 256


def _command(kind: str, run: dict) -> str:
    if kind == "pipeline":
        args = [
            f"--semantic-tokens {run['semantic_tokens']}",
            f"--threads {run['torch_threads']}",
            f"--repeats {run['repeats']}",
        ]
        long_form = run.get("long_form")
        if long_form:
            args += [
                f"--long-form-sentences {long_form['sentences']}",
                f"--long-form-tokens {long_form['semantic_tokens_each']}",
                f"--long-form-mode {long_form['mode']}",
            ]
        else:
            args.append("--long-form-sentences 0")
        if run.get("device", "cpu") != "cpu":
            args += [f"--device {run['device']}", f"--dtype {run['dtype']}"]
        if _tiny(run):
            args.append("--quick")
    elif kind == "vocoder":
        durations = " ".join(f"{row['seconds']:g}" for row in run["rows"])
        args = [f"--durations {durations}", f"--threads {run['machine']['threads']}", f"--repeats {run['repeats']}"]
        if run.get("device", "cpu") != "cpu":
            args.append(f"--device {run['device']}")
        if _tiny(run):
            args.append("--tiny")
    elif kind == "stream":
        args = [f"--engine {run['engine']}", f"--threads {run['machine']['threads']}"]
        args += [f"--{key.replace('_', '-')} {run[key]}" for key in ("first_chunk_tokens", "repeats") if key in run]
        if _tiny(run):
            args.append("--quick")
    elif kind == "oneshot":
        engines = " ".join(name for name in run["speedup"])
        args = [
            f"--engines {engines}",
            f"--semantic-tokens {run['semantic_tokens']}",
            f"--repeats {run['repeats']}",
            f"--threads {run['threads']}",
        ]
        if run.get("shape") != "bark-small":
            args.append("--quick")
    else:
        raise ValueError(f"no command for benchmark kind {kind!r}")
    return f"{_limits_prefix(run)}bark-vocos bench {kind} {' '.join(args)}"


def _sources(kind: str, runs: list[tuple[Path, dict]]) -> str:
    lines = []
    for path, run in runs:
        machine = run["machine"]
        versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items() if version)
        commit = (machine.get("commit") or "unknown commit")[:12]
        smoke = " **Tiny smoke run: these figures only show the code runs.**" if _tiny(run) else ""
        lines.append(
            f"- `{path.relative_to(ROOT)}`: {machine['date']}, commit {commit}, {versions}; "
            f"`{_command(kind, run)}`.{smoke}"
        )
    return "\n".join(lines)


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _engines(run: dict) -> list[str]:
    return [mode for mode in ("exact", "fast") if mode in run]


def pipeline_table(runs: list[tuple[Path, dict]], summary: bool = False) -> str:
    header = [
        "CPU, ISA, threads",
        "engine",
        *([] if summary else ["semantic", "coarse", "fine", "decode"]),
        "end to end",
        *([] if summary else ["identical tokens (sem / coarse / fine)"]),
    ]
    rows = []
    for _, run in runs:
        for mode in _engines(run):
            speedup = run[mode]["speedup"]
            same = run[mode]["identical_tokens_vs_reference"]
            cells = [_machine(run), mode]
            if not summary:
                cells += [_x(speedup[stage]) for stage in STAGES[:-1]]
            cells.append(f"**{_x(speedup['total'])}**")
            if not summary:
                cells.append(" / ".join(f"{same[stage]:.0%}" for stage in ("semantic", "coarse", "fine")))
            rows.append(cells)
        long_form = run.get("long_form")
        if long_form:
            name = f"long form, {long_form['sentences']} sentences as one batch ({long_form['mode']})"
            cells = [_machine(run), name, *([] if summary else ["", "", "", ""])]
            cells.append(f"**{_x(long_form['speedup'])}** (first batch {_x(long_form['speedup_first_run'])})")
            rows.append(cells + ([] if summary else [""]))
    return _table(header, rows) + "\n\n" + _sources("pipeline", runs)


def vocoder_table(runs: list[tuple[Path, dict]], summary: bool = False) -> str:
    if summary:
        header = [
            "CPU, ISA, threads",
            "audio",
            "EnCodec decoder, x real time",
            "Vocos (ours), x real time",
            "Vocos / EnCodec",
        ]
    else:
        header = [
            "CPU, ISA, threads",
            "audio",
            "ours, x real time",
            "ours / original Vocos",
            "ours / EnCodec decoder",
            "parity",
        ]
    rows = []
    for _, run in runs:
        for row in run["rows"]:
            audio = f"{row['seconds']:g} s"
            if summary:
                rows.append(
                    [
                        _machine(run),
                        audio,
                        f"{row['seconds'] / row['encodec']:.0f}x",
                        f"{row['seconds'] / row['ours']:.0f}x",
                        f"**{_x(row['ours_over_encodec'])}** faster",
                    ]
                )
            else:
                rows.append(
                    [
                        _machine(run),
                        audio,
                        f"{row['seconds'] / row['ours']:.0f}x",
                        f"**{_x(row['ours_over_original'])}**",
                        _x(row["ours_over_encodec"]),
                        f"{row['parity']:.0e}",
                    ]
                )
    return _table(header, rows) + "\n\n" + _sources("vocoder", runs)


def stream_table(runs: list[tuple[Path, dict]], summary: bool = False) -> str:
    header = [
        "CPU, ISA, threads",
        "engine",
        "one call",
        "first audio (share of one call)",
        "stream total (over one call)",
    ]
    rows = [
        [
            _machine(run),
            run["engine"],
            f"{run['one_call_total_s']:.1f} s",
            f"{run['time_to_first_audio_s']:.1f} s = **{run['first_audio_share_of_one_call']:.1%}**",
            f"{run['stream_total_s']:.1f} s = **{run['stream_total_over_one_call']:.2f}x**",
        ]
        for _, run in runs
    ]
    return _table(header, rows) + "\n\n" + _sources("stream", runs)


def oneshot_table(runs: list[tuple[Path, dict]], summary: bool = False) -> str:
    header = [
        "CPU, ISA, threads",
        "process",
        "whole process",
        "of which first call",
        "peak memory",
        "speed over the model card's",
        "memory over the model card's",
    ]
    rows = []
    for _, run in runs:
        for name, median in run["median"].items():
            reference = name == "reference"
            rows.append(
                [
                    _machine(run),
                    "model card (reference)" if reference else f"ours, {name}",
                    f"{median['process_s']:.1f} s",
                    f"{median['first_call_s']:.1f} s",
                    f"{median['peak_rss_gb']:.2f} GB",
                    "" if reference else f"**{_x(run['speedup'][name])}**",
                    "" if reference else _x(run["memory_ratio"][name]),
                ]
            )
    return _table(header, rows) + "\n\n" + _sources("oneshot", runs)


TABLES: dict[str, tuple[str, Callable[..., str], bool]] = {
    "pipeline": ("pipeline", pipeline_table, False),
    "pipeline-summary": ("pipeline", pipeline_table, True),
    "vocoder": ("vocoder", vocoder_table, False),
    "vocoder-summary": ("vocoder", vocoder_table, True),
    "stream": ("stream", stream_table, False),
    "oneshot": ("oneshot", oneshot_table, False),
}


def render(name: str) -> str:
    """The Markdown of table `name` from the JSON files of its kind (a line saying so when there are none)."""
    if name not in TABLES:
        raise ValueError(f"unknown bench table {name!r}; known: {', '.join(TABLES)}")
    kind, make, summary = TABLES[name]
    runs = _load(kind)
    if summary:  # the README's: the CPU as it is, not held to a lower ISA (all runs when every one was held)
        runs = [(path, run) for path, run in runs if not run["machine"].get("isa_limits")] or runs
    if not runs:
        return f"No `docs/benchmarks/{kind}-*.json` yet: run `bark-vocos bench {kind} --out FILE.json`.\n"
    return make(runs, summary=summary) + "\n"


def updated(text: str) -> str:
    return MARKER.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a table differs from its JSON")
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        new = updated(text)
        if new != text:
            stale.append(str(page.relative_to(ROOT)))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"bench tables differ from docs/benchmarks/*.json in: {', '.join(stale)} (run `make bench-tables`)")
        return 1
    print(("stale: " if args.check else "updated: ") + (", ".join(stale) or "none") if stale else "tables up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
