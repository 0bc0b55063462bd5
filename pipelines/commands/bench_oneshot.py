"""`bark-vocos bench oneshot`: one short sentence as a whole process, ours against the model card's, as users run it.

Each run is a fresh Python process that imports, loads a checkpoint from disk, speaks one sentence (a forced number of
semantic tokens, greedy), and writes the wav: the cost of a `say` of one sentence, first-call warm-ups included. The
reference process is the model card's `BarkProcessor` + `BarkModel.generate` (three stage calls and EnCodec's
`codec_decode`); ours is `TextToWavPipeline` with one engine and Vocos. The processes run interleaved (reference, then
each engine, round after round) after one unmeasured round that fills the disk cache and the run's own tuning record
(`bark_vocos.tuning`; off with `--no-tuning-cache`), and each round's ratio counts. The checkpoints hold RANDOM
weights (bark-small's shape, or make-tiny's with --quick): the audio is noise, never speech.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["MODES", "add_arguments", "child", "run"]

MODES = ("reference", "exact", "fast")
TEXT = "Hello, my dog is cute."
PHASES = ("import_s", "load_s", "first_call_s", "write_s")
# issue 29's targets: whole-process speed-up over the reference, and peak resident memory relative to it
SPEED_TARGETS = {"exact": 2.0, "fast": 4.0}
MEMORY_TARGETS = {"exact": 1.5, "fast": 1.0}
_CHILD = "from pipelines.commands.bench_oneshot import child; child()"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--semantic-tokens", type=int, default=80, help="semantic tokens generated (forced length)")
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds (default: 3)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in every process (default: 2)")
    parser.add_argument("--engines", nargs="+", choices=MODES[1:], default=list(MODES[1:]), help="our engines to run")
    parser.add_argument("--quick", action="store_true", help="make-tiny's checkpoints instead of bark-small's shape")
    parser.add_argument("--workdir", type=Path, help="folder for the checkpoints and wavs (kept; default: temporary)")
    parser.add_argument("--out", type=Path, help="write the results as JSON")


def _save_checkpoints(folder: Path, quick: bool) -> tuple[Path, Path]:
    """Random Bark (+ tokenizer) and Vocos checkpoints in their on-disk formats under `folder`, unless already there."""
    bark, vocos = folder / "bark", folder / "vocos"
    if (bark / "config.json").is_file() and (vocos / "config.json").is_file():
        return bark, vocos
    from bark_vocos.testing import (
        BARK_SMALL,
        RANDOM_WEIGHTS_MARKER,
        make_tiny,
        random_bark_model,
        random_vocoder,
        save_tiny_tokenizer,
    )

    if quick:
        make_tiny(folder)
        return bark, vocos
    for path in (bark, vocos):
        path.mkdir(parents=True, exist_ok=True)
        (path / RANDOM_WEIGHTS_MARKER).write_text("Random weights (bench oneshot): the audio is noise.\n", "utf-8")
    random_bark_model(**BARK_SMALL).save_pretrained(bark)
    save_tiny_tokenizer(bark)
    random_vocoder(quick=False, seed=0).save_pretrained(vocos)
    return bark, vocos


def _one_process(
    mode: str, bark: Path, vocos: Path, out: Path, tokens: int, threads: int, record: str
) -> dict[str, Any]:
    """Run `child()` in a new interpreter; its phases, its peak resident memory and its spawn-to-written wall time.

    `record` is the tuning record the process reads and fills (`bark_vocos.tuning`), or "off".
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "BARK_VOCOS_TUNING_RECORD": record}
    spawned = time.time()
    argv = [
        sys.executable,
        "-c",
        _CHILD,
        mode,
        str(bark),
        str(vocos),
        str(out),
        str(tokens),
        str(threads),
        repr(spawned),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"bench oneshot: the {mode} process failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _peak_resident_bytes() -> int:
    """This process's peak resident memory since it started its interpreter.

    On Linux, `VmHWM` of /proc/self/status: `getrusage`'s `ru_maxrss` also counts the process it was forked from
    (the peak of the parent's memory image is kept across `exec`), so every child of a parent holding 2 GB reported
    at least 2 GB. Elsewhere `ru_maxrss` (KiB on Linux and BSDs, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def child() -> None:
    """The measured process (argv: mode bark vocos out tokens threads spawn-time); prints one JSON line of figures.

    `process_s` runs from the parent's spawn to the written wav (interpreter start-up included); a second, identical
    call after the wav is written gives `second_call_s`, so `first_call_s - second_call_s` is the first call's warm-up.
    Our modes first call `pipelines.keep_freed_memory()`, as the `bark-vocos` commands do and the docs ask of a
    Python user (`keeps_freed_memory`: whether it applied); the reference process is the model card's, without it.
    """
    mode, bark, vocos, out = sys.argv[1:5]
    tokens, threads, spawned = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    marks = {"start": time.time()}
    keeps_freed_memory = False
    if mode != "reference":  # as every `bark-vocos` command does, and the docs ask of a Python user
        from pipelines.speech.memory import keep_freed_memory

        keeps_freed_memory = keep_freed_memory()
    import soundfile as sf
    import torch

    if mode == "reference":
        from transformers import BarkModel, BarkProcessor
    else:
        from pipelines import TextToWavPipeline
    marks["imported"] = time.time()
    torch.set_num_threads(threads)
    forced = {"do_sample": False, "semantic_min_new_tokens": tokens, "semantic_max_new_tokens": tokens}
    if mode == "reference":
        processor, model = BarkProcessor.from_pretrained(bark), BarkModel.from_pretrained(bark).eval()
        rate = model.generation_config.sample_rate

        def speak() -> Any:
            with torch.inference_mode():
                return model.generate(**processor(TEXT), **forced)[0].numpy()
    else:
        pipe = TextToWavPipeline.from_pretrained(bark, vocos, engine=mode)
        rate = pipe.sampling_rate()

        def speak() -> Any:
            return pipe(TEXT, seed=0, progress=False, **forced).audio

    marks["loaded"] = time.time()
    audio = speak()
    marks["called"] = time.time()
    sf.write(out, audio, rate)
    marks["written"] = time.time()
    peak = _peak_resident_bytes()
    before = time.perf_counter()
    speak()
    second = time.perf_counter() - before
    figures = {
        "process_s": marks["written"] - spawned,
        "startup_s": marks["start"] - spawned,
        "import_s": marks["imported"] - marks["start"],
        "load_s": marks["loaded"] - marks["imported"],
        "first_call_s": marks["called"] - marks["loaded"],
        "write_s": marks["written"] - marks["called"],
        "second_call_s": second,
        "peak_rss_gb": peak / 1e9,
        "samples": len(audio),
        "keeps_freed_memory": keeps_freed_memory,
    }
    print(json.dumps({key: round(value, 4) if isinstance(value, float) else value for key, value in figures.items()}))


def _check(args: argparse.Namespace) -> None:
    for name in ("semantic_tokens", "repeats", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.out is not None:
        from ..io.files import check_writable

        check_writable(args.out)


def _summary(rounds: list[dict[str, dict[str, Any]]], engines: list[str]) -> dict[str, Any]:
    """Median figures per mode, and per engine the median of each round's ratios against that round's reference."""
    modes = ["reference", *engines]
    median = {
        mode: {
            key: statistics.median(r[mode][key] for r in rounds)
            for key, value in rounds[0][mode].items()
            if not isinstance(value, bool)  # a fact of the process, not a figure
        }
        for mode in modes
    }
    summary: dict[str, Any] = {"median": median, "speedup": {}, "memory_ratio": {}, "warm_up_s": {}}
    for mode in modes:
        summary["warm_up_s"][mode] = round(median[mode]["first_call_s"] - median[mode]["second_call_s"], 3)
    for engine in engines:
        ratios = [r["reference"]["process_s"] / r[engine]["process_s"] for r in rounds]
        memory = [r[engine]["peak_rss_gb"] / r["reference"]["peak_rss_gb"] for r in rounds]
        summary["speedup"][engine] = round(statistics.median(ratios), 3)
        summary["memory_ratio"][engine] = round(statistics.median(memory), 3)
    return summary


def _print(summary: dict[str, Any], engines: list[str], quick: bool) -> None:
    phases = " + ".join(name.removesuffix("_s") for name in ("startup_s", *PHASES))
    print(f"median seconds per process ({phases} = process), peak resident memory:")
    for mode, figures in summary["median"].items():
        parts = " + ".join(f"{figures[name]:.2f}" for name in ("startup_s", *PHASES))
        warm_up = f"second call {figures['second_call_s']:.2f} s: first-call warm-up {summary['warm_up_s'][mode]:.2f} s"
        print(f"  {mode:>9}: {parts} = {figures['process_s']:.2f} s, {figures['peak_rss_gb']:.2f} GB ({warm_up})")
    for engine in engines:
        speed, memory = summary["speedup"][engine], summary["memory_ratio"][engine]
        line = f"  {engine}: {speed:.2f}x the reference's speed, {memory:.2f}x its memory"
        if not quick:
            met = speed >= SPEED_TARGETS[engine] and memory <= MEMORY_TARGETS[engine]
            line += (
                f" (targets >= {SPEED_TARGETS[engine]}x, <= {MEMORY_TARGETS[engine]}x: {'met' if met else 'missed'})"
            )
        print(line)


def run(args: argparse.Namespace) -> int:
    """Write the checkpoints, run one unmeasured round and `--repeats` measured ones, print and store the figures."""
    _check(args)
    from ..benchmarks.machine import bench_metadata, describe_machine

    engines = list(dict.fromkeys(args.engines))
    print("bench oneshot: random weights: whole-process timings only, the audio is noise, not speech")
    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="bark-vocos-oneshot-") as temporary:
        folder = args.workdir if args.workdir is not None else Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        bark, vocos = _save_checkpoints(folder, args.quick)
        from bark_vocos.settings import settings

        # the processes' own tuning record, filled by round 0 (the user's is left alone); off with --no-tuning-cache
        record = "off" if settings().tuning_record == "off" else str(folder / "tuning.json")
        rounds = []
        for index in range(args.repeats + 1):  # round 0 fills the disk cache and the tuning record, not counted
            figures = {}
            for mode in ("reference", *engines):
                out = folder / f"{mode}.wav"
                figures[mode] = _one_process(mode, bark, vocos, out, args.semantic_tokens, args.threads, record)
            print(f"round {index}{' (not counted)' if index == 0 else ''}: "
                  + ", ".join(f"{mode} {f['process_s']:.2f} s" for mode, f in figures.items()), flush=True)  # fmt: skip
            if index:
                rounds.append(figures)
    summary = _summary(rounds, engines)
    _print(summary, engines, args.quick)
    results = {
        "machine": bench_metadata(),
        "note": "random weights: whole-process timings only, the audio is noise, not speech",
        "shape": "make-tiny" if args.quick else "bark-small",
        "semantic_tokens": args.semantic_tokens,
        "threads": args.threads,
        "repeats": args.repeats,
        "tuning_record": record != "off",
        "rounds": rounds,
        **summary,
    }
    if args.out is not None:
        from ..io.files import atomic_output

        with atomic_output(args.out) as path:
            Path(path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
