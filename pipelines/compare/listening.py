"""The blind listening test of a comparison: a self-contained page of A/B trials and the decoding of its answers.

`write_listening_test` writes `listening.html` (every trial's two versions as "A" and "B", in a seeded random order
and side) and `listening-key.json` beside it: the page only knows each trial by an opaque key, the key file maps it to
the item and the candidates played as A and B. `listening_results` decodes the JSON files the page saves (one per
listener) with that key: per pair of candidates the preference share with the exact binomial (sign) test p-value
(scipy.stats.binomtest), ties apart, and per item.
"""

from __future__ import annotations

import html
import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from .report import flac_data_uri, write_text_atomic
from .scoring import Comparison

__all__ = [
    "ANSWERS",
    "KEY_FILE",
    "PAGE_FILE",
    "format_listening",
    "listening_results",
    "listening_trials",
    "write_listening_test",
]

PAGE_FILE = "listening.html"
KEY_FILE = "listening-key.json"
# What a listener can answer; "none" is "no preference" (a tie).
ANSWERS = ("A", "B", "none")


def listening_trials(comparison: Comparison, seed: int = 0) -> tuple[str, list[dict[str, str]]]:
    """The page id and the trials: one per item and pair of candidates, shuffled, each side drawn (seeded).

    Returns:
        `(page_id, trials)`, each trial `{"key", "item", "A", "B"}` (A and B: the candidates played as A and B).

    Raises:
        ValueError: Fewer than two candidates.
    """
    if len(comparison.candidates) < 2:
        raise ValueError(f"a listening test needs two or more candidates, got {comparison.candidates}")
    rng = np.random.default_rng(seed)
    page_id = f"{rng.integers(2**32):08x}"
    pairs = list(itertools.combinations(comparison.candidates, 2))
    trials = []
    keys = set()
    for item in comparison.items:
        for first, second in pairs:
            key = f"{rng.integers(2**32):08x}"
            while key in keys:
                key = f"{rng.integers(2**32):08x}"
            keys.add(key)
            a, b = (second, first) if rng.random() < 0.5 else (first, second)
            trials.append({"key": key, "item": item.name, "A": a, "B": b})
    order = rng.permutation(len(trials))
    return page_id, [trials[i] for i in order]


_PAGE_SCRIPT = """
const PAGE = document.body.dataset.page, TRIALS = JSON.parse(document.getElementById('trials').textContent);
const STORE = 'bark-vocos-listening:' + PAGE;
const answers = JSON.parse(localStorage.getItem(STORE) || '{}');
const $ = id => document.getElementById(id);
let index = Math.max(0, TRIALS.findIndex(t => !(t.key in answers)));
function show() {
  const trial = TRIALS[index];
  $('audio-a').src = trial.a; $('audio-b').src = trial.b;
  const done = TRIALS.filter(t => t.key in answers).length;
  $('progress').textContent = `Trial ${index + 1} of ${TRIALS.length}; answered ${done} of ${TRIALS.length}`;
  $('current').textContent = answers[trial.key] ? `your answer: ${answers[trial.key]}` : '';
  $('finished').hidden = done < TRIALS.length;
}
function replay(which) { const audio = $('audio-' + which); audio.currentTime = 0; audio.play().catch(() => {}); }
function answer(choice) {
  answers[TRIALS[index].key] = choice;
  localStorage.setItem(STORE, JSON.stringify(answers));
  const next = TRIALS.findIndex(t => !(t.key in answers));
  if (next >= 0) index = next;
  show();
}
function download() {
  const results = {page: PAGE, listener: $('listener').value,
                   answers: TRIALS.map(t => ({trial: t.key, answer: answers[t.key] || null}))};
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([JSON.stringify(results, null, 2)], {type: 'application/json'}));
  link.download = 'listening-results.json';
  link.click();
}
$('play-a').onclick = () => replay('a'); $('play-b').onclick = () => replay('b');
$('choose-a').onclick = () => answer('A'); $('choose-b').onclick = () => answer('B');
$('choose-none').onclick = () => answer('none');
$('previous').onclick = () => { index = Math.max(0, index - 1); show(); };
$('next').onclick = () => { index = Math.min(TRIALS.length - 1, index + 1); show(); };
$('download').onclick = download;
show();
"""


def _page(page_id: str, trials: list[dict[str, str]], comparison: Comparison) -> str:
    """The page: the trials' audio by opaque key only (no candidate or item names), controls, the script."""
    audio = {item.name: item.audio for item in comparison.items}
    embedded = [
        {
            "key": trial["key"],
            "a": flac_data_uri(audio[trial["item"]][trial["A"]], comparison.sampling_rate),
            "b": flac_data_uri(audio[trial["item"]][trial["B"]], comparison.sampling_rate),
        }
        for trial in trials
    ]
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in comparison.notes)
    data = json.dumps(embedded).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Blind listening test</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} button {{ font-size: 1.1em; margin: 0.2em; }}
.note {{ background: #fff3cd; border: 1px solid #e0c36c; padding: 0.5em 1em; }}</style></head>
<body data-page="{page_id}"><h1>Blind listening test</h1>{notes}
<p>Listen to A and B (as often as you like), then answer: which sounds better?</p>
<p id="progress"></p>
<div><audio id="audio-a" controls preload="auto"></audio> <button id="play-a">Play A</button></div>
<div><audio id="audio-b" controls preload="auto"></audio> <button id="play-b">Play B</button></div>
<p><button id="choose-a">A sounds better</button><button id="choose-b">B sounds better</button>
<button id="choose-none">No preference</button></p>
<p><button id="previous">Previous trial</button><button id="next">Next trial</button> <span id="current"></span></p>
<p><label>Your name (optional) <input id="listener"></label>
<button id="download">Download answers (JSON)</button></p>
<p id="finished" hidden>All trials answered: download your answers and send the file.</p>
<script type="application/json" id="trials">{data}</script>
<script>{_PAGE_SCRIPT}</script></body></html>
"""


def write_listening_test(comparison: Comparison, out_dir: str | os.PathLike, seed: int = 0) -> dict[str, Path]:
    """Write `listening.html` and `listening-key.json` (the hidden mapping and the seed) into `out_dir`.

    Returns:
        `{"page": path, "key": path}`.
    """
    out_dir = Path(out_dir)
    page_id, trials = listening_trials(comparison, seed)
    page = _page(page_id, trials, comparison)
    key = {
        "page": page_id,
        "seed": seed,
        "candidates": list(comparison.candidates),
        "notes": list(comparison.notes),
        "trials": trials,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / KEY_FILE, json.dumps(key, indent=2) + "\n")
    write_text_atomic(out_dir / PAGE_FILE, page)
    return {"page": out_dir / PAGE_FILE, "key": out_dir / KEY_FILE}


def _preference(a: str, b: str, a_count: int, b_count: int, ties: int) -> dict[str, Any]:
    decided = a_count + b_count
    return {
        "a": a,
        "b": b,
        "a_preferred": a_count,
        "b_preferred": b_count,
        "ties": ties,
        "a_share": a_count / decided if decided else None,
        "p_value": float(binomtest(a_count, decided, 0.5).pvalue) if decided else None,
    }


def listening_results(key: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Decode listeners' answer files with the key: preference per pair of candidates (ties apart) and per item.

    Args:
        key: The content of `listening-key.json`.
        results: The content of each listener's downloaded JSON (`{"page", "listener", "answers": [...]}`).

    Returns:
        `{"notes", "listeners", "unanswered", "pairs": [...], "items": [...]}` (the comparison's notes, e.g. random
        weights, carried by the key); each pair entry has `a`, `b`, `a_preferred`,
        `b_preferred`, `ties`, `a_share` (of the decided answers) and the two-sided exact binomial `p_value`;
        unanswered trials are counted as `unanswered`.

    Raises:
        ValueError: A results file from another page, an unknown trial key, or an answer not in `ANSWERS`.
    """
    trials = {trial["key"]: trial for trial in key["trials"]}
    counts: dict[tuple[str, str, str], list[int]] = {}  # (item, a, b) in candidate order -> [a, b, ties]
    order = {name: i for i, name in enumerate(key["candidates"])}
    unanswered = 0
    for number, result in enumerate(results):
        if result.get("page") != key["page"]:
            raise ValueError(f"results {number} are from page {result.get('page')!r}, the key is {key['page']!r}")
        for entry in result["answers"]:
            trial = trials.get(entry["trial"])
            if trial is None:
                raise ValueError(f"results {number}: unknown trial {entry['trial']!r}")
            if entry["answer"] is None:
                unanswered += 1
                continue
            if entry["answer"] not in ANSWERS:
                raise ValueError(f"results {number}: answer {entry['answer']!r} is not one of {ANSWERS}")
            a, b = sorted((trial["A"], trial["B"]), key=order.__getitem__)
            cell = counts.setdefault((trial["item"], a, b), [0, 0, 0])
            if entry["answer"] == "none":
                cell[2] += 1
            else:
                cell[0 if trial[entry["answer"]] == a else 1] += 1
    pairs = []
    for a, b in itertools.combinations(key["candidates"], 2):
        cells = [cell for (_, x, y), cell in counts.items() if (x, y) == (a, b)]
        pairs.append(_preference(a, b, *(sum(cell[i] for cell in cells) for i in range(3))))
    items = [{"item": item, **_preference(a, b, *cell)} for (item, a, b), cell in sorted(counts.items())]
    listeners = [result.get("listener") or f"listener {i}" for i, result in enumerate(results)]
    return {
        "notes": list(key.get("notes", [])),
        "listeners": listeners,
        "unanswered": unanswered,
        "pairs": pairs,
        "items": items,
    }


def format_listening(summary: dict[str, Any]) -> str:
    """One line per pair: preference share, p-value, ties; without a trailing newline."""
    lines = [f"Listening test: {len(summary['listeners'])} listener(s), {summary['unanswered']} trial(s) unanswered"]
    lines += [f"NOTE: {note}" for note in summary["notes"]]
    for pair in summary["pairs"]:
        decided = pair["a_preferred"] + pair["b_preferred"]
        share = "n/a" if pair["a_share"] is None else f"{100 * pair['a_share']:.0f}%"
        p = "n/a" if pair["p_value"] is None else f"{pair['p_value']:.3g}"
        lines.append(
            f"{pair['a']} preferred over {pair['b']} in {pair['a_preferred']} of {decided} decided trials ({share}), "
            f"exact binomial p = {p}; {pair['ties']} no preference"
        )
    return "\n".join(lines)
