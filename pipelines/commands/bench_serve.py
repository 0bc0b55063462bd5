"""`bark-vocos bench serve`: time to first byte and total time of a streamed server request against `pipe(...)`.

One process loads the pipeline once, serves it on a loopback port, and alternates, for the same text, seed and voice:
`pipe(text, ...)` called directly (the reference), then a streamed `POST /v1/audio/speech` (`wav`) read chunk by chunk.
Ratios against the reference of the same round are what counts: absolute times depend on the machine and its load.
By default the models are tiny random checkpoints (`make-tiny`), or a bark-small-shaped random Bark with `--size
small`; the audio is noise, never speech.
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

TEXT = (
    "Hello, my dog is cute. He likes to run in the park every morning. "
    "Then he sleeps all afternoon. In the evening he waits at the door for me."
)
REQUEST_SECONDS = 600  # no single request of a benchmark may take longer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bark-vocos bench serve`."""
    parser.add_argument("--bark", help="Bark folder or hub id (default: tiny random checkpoints in a temporary folder)")
    parser.add_argument("--vocoder", help="Vocos folder or hub id (with --bark; default: the tiny random one)")
    parser.add_argument(
        "--size",
        choices=("tiny", "small"),
        default="tiny",
        help="without --bark: tiny random checkpoints, or a bark-small-shaped random Bark and full-size random Vocos",
    )
    parser.add_argument("--text", default=TEXT, help="the text to speak (several sentences show streaming's gain)")
    parser.add_argument("--voice", help="voice preset (default: the model's first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of pipe(...) then a streamed request")
    parser.add_argument(
        "--max-chunk-tokens", type=int, default=None, help="token budget of a chunk (pipeline's default)"
    )
    parser.add_argument(
        "--first-chunk-tokens", type=int, default=None, help="a smaller budget for the first chunk (as serve's)"
    )
    parser.add_argument(
        "--semantic-tokens", type=int, default=None, help="force this many semantic tokens per chunk (shorter runs)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")


def _pipeline(args: argparse.Namespace, folder: Path) -> tuple[Any, str]:
    from bark_vocos.testing import BARK_SMALL, make_tiny, random_bark_model, random_vocoder

    from ..speech.text_to_wav import TextToWavPipeline

    if args.bark is not None:
        return TextToWavPipeline.from_pretrained(bark=args.bark, vocoder=args.vocoder), f"{args.bark} + {args.vocoder}"
    tiny = make_tiny(folder, seed=args.seed)
    if args.size == "tiny":
        return TextToWavPipeline.from_pretrained(bark=tiny / "bark", vocoder=tiny / "vocos"), "tiny random (make-tiny)"
    small = TextToWavPipeline.from_pretrained(bark=tiny / "bark", vocoder=None)  # for its processor and presets
    model = random_bark_model(**BARK_SMALL, seed=args.seed)
    pipe = TextToWavPipeline(model, small.processor, random_vocoder(False, args.seed))
    return pipe, f"bark-small-shaped random Bark {BARK_SMALL} + full-size random Vocos"


def _streamed(url: str, body: dict[str, Any]) -> tuple[float, float, int]:
    """(seconds to the first audio byte, seconds to the last, bytes) of one streamed request."""
    import httpx

    start = time.perf_counter()
    first = None
    size = 0
    with httpx.stream("POST", url + "/v1/audio/speech", json=body, timeout=REQUEST_SECONDS) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"the server answered {response.status_code}: {response.text}")
        for part in response.iter_bytes():
            if part and first is None:
                first = time.perf_counter() - start
            size += len(part)
    return first or 0.0, time.perf_counter() - start, size


def _rounds(pipe: Any, url: str, args: argparse.Namespace, options: dict[str, Any]) -> list[dict[str, float]]:
    """`args.repeats` rounds of pipe(...) then one streamed request, after one streamed warm-up request."""
    voice = args.voice or (pipe.available_voice_presets or [None])[0]
    body = {"input": args.text, "voice": voice, "seed": args.seed, "response_format": "wav"}
    _streamed(url, body)  # warm-up: first-call costs out of the timed rounds
    rounds = []
    for index in range(args.repeats):
        start = time.perf_counter()
        output = pipe(args.text, voice_preset=voice, seed=args.seed, progress=False, **options)
        pipe_total = time.perf_counter() - start
        first_byte, total, size = _streamed(url, body)
        seconds = output.audio.shape[0] / output.sampling_rate
        rounds.append(
            {"pipe_total_s": pipe_total, "first_byte_s": first_byte, "stream_total_s": total, "audio_s": seconds}
        )
        print(
            f"round {index + 1}: pipe(...) {pipe_total:.3f} s | stream: first byte {first_byte:.3f} s, "
            f"total {total:.3f} s | audio {seconds:.2f} s, {len(output.chunks)} chunk(s), {size} bytes"
        )
    return rounds


def run(args: argparse.Namespace) -> int:
    """Serve the pipeline on loopback, alternate pipe(...) and a streamed request, print times and ratios."""
    from ..benchmarks.machine import bench_metadata, describe_machine, set_threads
    from ..benchmarks.pipeline import RANDOM_WEIGHTS_NOTE

    try:
        from ..server import BackgroundServer, ServerSettings, create_app
    except ImportError:
        raise ValueError('bench serve needs fastapi and uvicorn: pip install -e ".[server]"') from None

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    if args.vocoder is not None and args.bark is None:
        raise ValueError("--vocoder needs --bark (without them the benchmark makes tiny random checkpoints)")
    set_threads(args.threads)
    if args.out is not None:
        check_writable(args.out)
    options: dict[str, Any] = {}
    if args.max_chunk_tokens is not None:
        options["max_chunk_tokens"] = args.max_chunk_tokens
    if args.first_chunk_tokens is not None:
        options["first_chunk_tokens"] = args.first_chunk_tokens
    if args.semantic_tokens is not None:
        if args.semantic_tokens < 1:
            raise ValueError(f"--semantic-tokens must be >= 1, got {args.semantic_tokens}")
        options["semantic_max_new_tokens"] = options["semantic_min_new_tokens"] = args.semantic_tokens

    # the folder stays while the pipeline runs: it reads voice presets from disk when asked for them
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        pipe, model_name = _pipeline(args, Path(folder))
        machine = describe_machine()
        print(f"bench serve: {model_name}; {RANDOM_WEIGHTS_NOTE if args.bark is None else 'your checkpoints'}")
        print(machine)
        settings = ServerSettings(max_queue=1, max_input_chars=max(4096, len(args.text)), generation_kwargs=options)
        with BackgroundServer(create_app(pipe, settings)) as server:
            rounds = _rounds(pipe, server.url, args, options)

    summary = {
        key: statistics.median(r[key] for r in rounds)
        for key in ("pipe_total_s", "first_byte_s", "stream_total_s", "audio_s")
    }
    ratios = {
        "first_byte_over_pipe": statistics.median(r["first_byte_s"] / r["pipe_total_s"] for r in rounds),
        "stream_total_over_pipe": statistics.median(r["stream_total_s"] / r["pipe_total_s"] for r in rounds),
    }
    print(
        f"median of {len(rounds)}: first byte after {ratios['first_byte_over_pipe']:.2f}x the time pipe(...) takes; "
        f"whole stream {ratios['stream_total_over_pipe']:.2f}x pipe(...)"
    )
    if args.out is not None:
        results = {
            "model": model_name,
            "machine": bench_metadata(),
            "text": args.text,
            "options": options,
            "rounds": rounds,
        }
        results.update(median=summary, ratios=ratios)
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return 0
