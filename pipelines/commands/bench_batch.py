"""`bark-vocos bench batch`: rows/s and audio-s/s of the local and the Ray batch runner, interleaved in one run.

Both runners generate the same job (short texts of mixed lengths) into fresh folders, one worker each with the same
torch threads, local and Ray taking turns; the Ray overhead is Ray's wall time over local's. Ray's own start-up
(`ray.init`, once per process) is reported apart: a real job pays it once. By default the models are tiny RANDOM
checkpoints (make-tiny): the audio is noise and rows are short, which is the worst case for Ray's per-row overhead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ..io.files import atomic_output, check_writable

__all__ = ["add_arguments", "run"]

_WORDS = "Hello my dog is cute and the cat was in it that she said to you I laughs of a".split()


def _job(path: Path, rows: int, words: int) -> Path:
    """`rows` texts of 2 to `words` words (mixed lengths, deterministic), as JSONL."""
    lines = []
    for index in range(rows):
        count = 2 + (index * 7) % (words - 1)
        text = " ".join(_WORDS[(index + k) % len(_WORDS)] for k in range(count)) + "."
        lines.append(json.dumps({"id": f"r{index:05d}", "text": text}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(path.name for path in a.glob("*.wav"))
    return names == sorted(path.name for path in b.glob("*.wav")) and all(
        (a / name).read_bytes() == (b / name).read_bytes() for name in names
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bark-vocos bench batch`."""
    parser.add_argument("--rows", type=int, default=48, help="rows in the job (default: %(default)s)")
    parser.add_argument("--words", type=int, default=60, help="longest text, in words (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="local/Ray pairs, interleaved (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors (default: 1, as local)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker, both runners (default: 1)")
    parser.add_argument("--bark", help="Bark folder or hub id (default: tiny random checkpoints)")
    parser.add_argument("--vocoder", help="Vocos folder or hub id (default: tiny random checkpoints)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")


def run(args: argparse.Namespace) -> int:
    """Time local and Ray in turns; print rows/s, audio-s/s and the overhead ratio."""
    import torch

    from bark_vocos.testing import make_tiny

    from ..batch import BatchSettings, run_batch
    from ..batch.ray_runner import require_ray
    from ..benchmarks.machine import bench_metadata, describe_machine

    for name in ("rows", "repeats", "workers", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.rows < 2 or args.words < 3:
        raise ValueError(f"--rows must be >= 2 and --words >= 3, got {args.rows} and {args.words}")
    if (args.bark is None) != (args.vocoder is None):
        raise ValueError("give both --bark and --vocoder, or neither (tiny random checkpoints)")
    if args.out is not None:
        check_writable(args.out)
    ray = require_ray()
    torch.set_num_threads(args.threads)
    machine = describe_machine()
    print(f"bench batch: {machine} (per worker, both runners)")
    results: dict[str, Any] = {"machine": bench_metadata(), "rows": args.rows, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        if args.bark is None:
            tiny = make_tiny(root / "tiny", seed=0)
            bark, vocoder = str(tiny / "bark"), str(tiny / "vocos")
            print("models: tiny RANDOM checkpoints (make-tiny): the audio is noise, a row takes a fraction of a second")
        else:
            bark, vocoder = args.bark, args.vocoder
        results["models"] = {"bark": bark, "vocoder": vocoder}
        job = _job(root / "job.jsonl", args.rows, args.words)
        settings = BatchSettings(bark=bark, vocoder=vocoder, threads=args.threads)
        start = time.perf_counter()
        started = not ray.is_initialized()  # a caller's Ray (e.g. a test's) is used as it is
        if started:
            cpus = args.workers * args.threads
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="warning")
        results["ray_init_s"] = round(time.perf_counter() - start, 3)
        print(f"ray.init (once per job, not counted below): {results['ray_init_s']:.2f} s")
        runs: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
        try:
            for repeat in range(args.repeats):
                for runner in ("local", "ray"):
                    workers = args.workers if runner == "ray" else 1
                    out_dir = root / f"{runner}{repeat}"
                    summary = run_batch(job, out_dir, settings=settings, runner=runner, workers=workers, progress=False)
                    # tiny random weights sometimes end a text at once (no codes): the same rows fail in both runners
                    # steady state: the rows after the first, i.e. without start-up (process, imports, model loading)
                    steady_s = summary.wall_seconds - summary.first_row_seconds
                    figures = {
                        "generated": summary.generated,
                        "failed": summary.failed,
                        "wall_s": round(summary.wall_seconds, 3),
                        "start_up_s": round(summary.first_row_seconds, 3),
                        "rows_per_s": round(summary.rows_per_second, 3),
                        "audio_s_per_s": round(summary.audio_seconds_per_second, 3),
                        "steady_rows_per_s": round((args.rows - 1) / steady_s, 3),
                    }
                    runs[runner].append(figures)
                    print(f"{runner} (repeat {repeat + 1}, {workers} worker(s)): {figures}")
        finally:
            if started:
                ray.shutdown()
        results["runs"] = runs
        results["identical_files"] = _same_files(root / "local0", root / "ray0")
    pairs = list(zip(runs["local"], runs["ray"], strict=True))
    wall = [ray_run["wall_s"] / local_run["wall_s"] for local_run, ray_run in pairs]
    steady = [local_run["steady_rows_per_s"] / ray_run["steady_rows_per_s"] for local_run, ray_run in pairs]
    results["ray_over_local_wall"] = [round(ratio, 3) for ratio in wall]
    results["ray_over_local_steady"] = [round(ratio, 3) for ratio in steady]
    results["ray_overhead_wall"] = round(statistics.median(wall) - 1, 3)
    results["ray_overhead_steady"] = round(statistics.median(steady) - 1, 3)
    print(f"local and Ray files byte-identical (and the same rows failed): {results['identical_files']}")
    print(f"Ray / local wall time per repeat (start-up included): {results['ray_over_local_wall']}")
    print(f"Ray / local time per row after the first (steady state): {results['ray_over_local_steady']}")
    print(
        f"Ray overhead on this machine (median): {100 * results['ray_overhead_wall']:+.1f}% end to end, "
        f"{100 * results['ray_overhead_steady']:+.1f}% in steady state (target: within 15%)"
    )
    if args.out is not None:
        with atomic_output(args.out) as tmp_path:
            tmp_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
