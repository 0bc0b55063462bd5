"""Reports of a `Comparison`: report.json, a terminal table, and one self-contained report.html to listen and look.

report.html embeds everything as data URIs (audio as 16-bit FLAC, spectrograms as PNG drawn by matplotlib), so
the single file can be mailed or opened offline.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.signal import spectrogram

from ..io.audio_io import write_audio
from ..io.files import atomic_output
from . import metrics as M
from .scoring import REFERENCE, Comparison, ComparisonItem
from .stats import MIN_ITEMS, Verdict

__all__ = ["flac_data_uri", "format_table", "render_html", "verdict_sentence", "write_report", "write_text_atomic"]

_MODE_TITLES = {
    "score": "scoring existing files",
    "resynthesis": "resynthesis of real speech",
    "text": "Bark codes from text, decoded",
}
SPECTROGRAM_RANGE_DB = 80.0


def _format_value(value: float) -> str:
    if np.isnan(value):
        return "n/a"  # not scored: the notes say why
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def _title(comparison: Comparison) -> str:
    """The report's title: the candidates' own names, then the mode."""
    return f"{' vs '.join(comparison.candidates)}: {_MODE_TITLES[comparison.mode]}"


def _json_safe(value):
    """`value` with every NaN or infinite float replaced by None (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _number(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3g}"


def verdict_sentence(verdict: Verdict) -> str:
    """One sentence saying what the paired statistics of `verdict` conclude (with the numbers behind it)."""
    label = M.METRICS[verdict.metric].label
    if verdict.better is not None:
        winner, loser = verdict.better, (verdict.b if verdict.better == verdict.a else verdict.a)
        flip = 1.0 if winner == verdict.a else -1.0  # the difference is reported as winner - loser
        low, high = sorted([flip * verdict.ci_low, flip * verdict.ci_high])
        wins = verdict.a_wins if winner == verdict.a else verdict.b_wins
        return (
            f"{winner} is better than {loser} on {label}: {flip * verdict.mean_difference:+.3g} "
            f"(95% CI {low:+.3g} to {high:+.3g}), p = {_number(verdict.p_value)}, "
            f"better on {wins} of {verdict.n} items."
        )
    numbers = (
        f"{verdict.a} - {verdict.b} = {verdict.mean_difference:+.3g} (95% CI {_number(verdict.ci_low)} to "
        f"{_number(verdict.ci_high)}), p = {_number(verdict.p_value)}; {verdict.a} better on {verdict.a_wins}, "
        f"{verdict.b} on {verdict.b_wins} of {verdict.n} items"
    )
    if verdict.n < MIN_ITEMS:
        too_few = f"too few items for a test (n = {verdict.n} < {MIN_ITEMS})"
        return f"{verdict.a} vs {verdict.b} on {label}: {too_few}: {numbers}."
    return f"{verdict.a} vs {verdict.b} on {label}: no significant difference: {numbers}."


def format_table(comparison: Comparison) -> str:
    """The summary as a plain-text table: mean per metric and candidate (best marked `*`) and win counts.

    Returns:
        Lines joined by newlines, without a trailing newline.
    """
    summary, wins, ties = comparison.summary(), comparison.wins(), comparison.ties()
    candidates = comparison.candidates
    header = ["metric", *candidates, "wins " + "/".join([*candidates, "ties"])]
    rows = []
    for metric in comparison.metrics:
        means = {candidate: summary[candidate][metric] for candidate in candidates}
        best = comparison.best(means, metric)
        direction = {True: " ^", False: " v", None: ""}[M.METRICS[metric].higher_is_better]
        cells = [_format_value(means[c]) + ("*" if c == best else "") for c in candidates]
        win_cell = "/".join(str(wins[c][metric]) for c in candidates) + f"/{ties[metric]}" if metric in ties else "-"
        rows.append([M.METRICS[metric].label + direction, *cells, win_cell])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"{_title(comparison)}, {len(comparison.items)} item(s)"]
    lines += [f"NOTE: {note}" for note in comparison.notes]
    lines.append("  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.append("^ higher is better, v lower is better, * best mean; wins count items with a strictly best value.")
    lines += ["VERDICT: " + verdict_sentence(verdict) for verdict in comparison.verdicts()]
    return "\n".join(lines)


def flac_data_uri(audio: np.ndarray, sampling_rate: int) -> str:
    # In memory rather than through audio_io.write_audio (which writes files): the bytes go into the page.
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sampling_rate, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _spectrogram_png_data_uri(item: ComparisonItem, roles: list[str], sampling_rate: int) -> str:
    """Side-by-side log-power spectrograms on one shared colour scale, as a PNG data URI."""
    spectra = {}  # role -> (frequencies in Hz, frame times in s, power in dB of shape (freq, frames))
    for role in roles:
        frequencies, times, power = spectrogram(item.audio[role], fs=sampling_rate, nperseg=1024, noverlap=768)
        spectra[role] = (frequencies, times, 10 * np.log10(power + 1e-12))
    top = max(float(power.max()) for _, _, power in spectra.values())
    figure = Figure(figsize=(3.6 * len(roles), 2.8), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(roles), sharey=True, squeeze=False)[0]
    for axis, role in zip(axes, roles, strict=True):
        frequencies, times, power = spectra[role]
        image = axis.pcolormesh(
            times, frequencies / 1000, power, vmin=top - SPECTROGRAM_RANGE_DB, vmax=top, shading="auto"
        )
        axis.set_title(role)
        axis.set_xlabel("time (s)")
    axes[0].set_ylabel("frequency (kHz)")
    figure.colorbar(image, ax=list(axes), label="dB")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _paired_plots_png_data_uri(comparison: Comparison) -> str | None:
    """Per metric, each item's values across the candidates joined by a line (a paired plot), as a PNG data URI.

    None with a single item or candidate (nothing to pair).
    """
    if len(comparison.items) < 2 or len(comparison.candidates) < 2:
        return None
    metrics = comparison.metrics
    columns = min(4, len(metrics))
    rows = -(-len(metrics) // columns)
    figure = Figure(figsize=(2.8 * columns, 2.4 * rows), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).reshape(-1)
    positions = np.arange(len(comparison.candidates))
    for axis, metric in zip(axes, metrics, strict=False):
        values = np.array([[item.metrics[c][metric] for c in comparison.candidates] for item in comparison.items])
        for row in values:  # one item: its values on every candidate
            axis.plot(positions, row, color="0.55", marker="o", markersize=3, linewidth=0.8)
        axis.plot(positions, np.nanmean(values, axis=0), color="C3", marker="s", linewidth=2, label="mean")
        direction = {True: " (higher better)", False: " (lower better)", None: ""}[M.METRICS[metric].higher_is_better]
        axis.set_title(M.METRICS[metric].label + direction, fontsize=8)
        axis.set_xticks(positions, comparison.candidates, fontsize=7)
        axis.tick_params(axis="y", labelsize=7)
    for axis in axes[len(metrics) :]:
        axis.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _metrics_table(comparison: Comparison, values: dict[str, dict[str, float]], extra_rows: str = "") -> str:
    """HTML table: a row per metric, a column per candidate, the best value marked."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in comparison.candidates)
    rows = []
    for metric in comparison.metrics:
        per_candidate = {c: values[c][metric] for c in comparison.candidates}
        best = comparison.best(per_candidate, metric)
        direction = {True: " (higher is better)", False: " (lower is better)", None: ""}[
            M.METRICS[metric].higher_is_better
        ]
        cells = "".join(
            f'<td class="best">{_format_value(v)} &#9733;</td>' if c == best else f"<td>{_format_value(v)}</td>"
            for c, v in per_candidate.items()
        )
        rows.append(f"<tr><th scope='row'>{html.escape(M.METRICS[metric].label + direction)}</th>{cells}</tr>")
    return f"<table><thead><tr><th>metric</th>{head}</tr></thead><tbody>{''.join(rows)}{extra_rows}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th[scope=row] { text-align: left; font-weight: normal; }
td.best { background: #d9f2d9; font-weight: bold; }
.note { background: #fff3cd; border: 1px solid #e0c36c; padding: 0.5em 1em; }
.players { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
img { max-width: 100%; }
section { border-top: 1px solid #ddd; margin-top: 1.5em; }
"""


def render_html(comparison: Comparison) -> str:
    """The self-contained report page: notes, summary with win counts, then per item players, spectrograms, table."""
    summary, wins, ties = comparison.summary(), comparison.wins(), comparison.ties()
    title = _title(comparison)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in comparison.notes]
    parts.append('<h2>Verdict</h2><ul class="verdicts">')
    parts += [f"<li>{html.escape(verdict_sentence(verdict))}</li>" for verdict in comparison.verdicts()]
    parts.append("</ul>")
    settings = ", ".join(f"{key}: {value}" for key, value in comparison.settings.items())
    parts.append(f"<p>{len(comparison.items)} item(s) at {comparison.sampling_rate} Hz. {html.escape(settings)}</p>")
    win_rows = "".join(
        f"<tr><th scope='row'>items won on {html.escape(M.METRICS[metric].label)}</th>"
        + "".join(f"<td>{wins[c][metric]}</td>" for c in comparison.candidates)
        + "</tr>"
        for metric in ties
    )
    tie_note = ", ".join(f"{M.METRICS[m].label}: {n}" for m, n in ties.items())
    parts += ["<h2>Summary (mean over items)</h2>", _metrics_table(comparison, summary, win_rows)]
    if ties:
        parts.append(f"<p>Ties (no single winner): {html.escape(tie_note)}.</p>")
    plots = _paired_plots_png_data_uri(comparison)
    if plots is not None:
        parts.append("<h2>Paired plots (each grey line is one item; red: the mean)</h2>")
        parts.append(f'<img class="paired" src="{plots}" alt="paired plots of every metric">')
    for item in comparison.items:
        roles = [role for role in [REFERENCE, *comparison.candidates] if role in item.audio]
        parts.append(f'<section id="item-{html.escape(item.name)}"><h2>{html.escape(item.name)}</h2>')
        parts.append('<div class="players">')
        for role in roles:
            uri = flac_data_uri(item.audio[role], comparison.sampling_rate)
            parts.append(
                f"<figure><figcaption>{html.escape(role)}</figcaption>"
                f'<audio controls preload="auto" src="{uri}"></audio></figure>'
            )
        parts.append("</div>")
        png = _spectrogram_png_data_uri(item, roles, comparison.sampling_rate)
        parts.append(f'<img src="{png}" alt="spectrograms of {html.escape(item.name)}: {", ".join(roles)}">')
        parts.append(_metrics_table(comparison, item.metrics))
        if item.lag_ms:
            lags = ", ".join(f"{c}: {lag:+.2f} ms" for c, lag in item.lag_ms.items())
            parts.append(f"<p>Lag applied before measuring: {html.escape(lags)}.</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through `atomic_output`, so a failure leaves no partial file."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_report(comparison: Comparison, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the generated wavs, report.json and report.html into `out_dir` (created if missing).

    Audio that was read from a file is not written again (report.json names its source); generated audio is
    written as `<item>_<candidate>.wav`, and the codes it was decoded from as `<item>_codes.npy` (`(K, frames)`;
    `<item>_<engine>_codes.npy` per engine).
    Both reports are rendered before anything is written, so a failure leaves the folder as it was; report.json is
    strict JSON (a metric that was not scored is `null`).

    Returns:
        `{"json": path, "html": path}`.
    """
    out_dir = Path(out_dir)
    data = comparison.to_dict()
    writes = []  # (path, what to write): audio as float32 (T,), codes as int64 (K, frames)
    for item, record in zip(comparison.items, data["items"], strict=True):
        record["files"] = {}
        for role, audio in item.audio.items():
            if role not in item.sources:
                writes.append((out_dir / f"{item.name}_{role}.wav", audio))
                record["files"][role] = writes[-1][0].name
        codes = item.codes if isinstance(item.codes, dict) else {"": item.codes} if item.codes is not None else {}
        for engine, array in codes.items():  # one array, or one per engine (`<item>_<engine>_codes.npy`)
            writes.append((out_dir / f"{item.name}_{engine + '_' if engine else ''}codes.npy", array))
            record["files"]["codes" + (f"_{engine}" if engine else "")] = writes[-1][0].name
    report = json.dumps(_json_safe(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    page = render_html(comparison)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, array in writes:
        if path.suffix == ".wav":
            write_audio(path, array, comparison.sampling_rate)
        else:
            with atomic_output(path, suffix=".npy") as tmp:
                np.save(tmp, array)
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    write_text_atomic(html_path, page)
    write_text_atomic(json_path, report)
    return {"json": json_path, "html": html_path}
