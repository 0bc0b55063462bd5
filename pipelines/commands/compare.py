"""`bark-vocos compare`: candidates (EnCodec decoder, Vocos, any files) scored from text, resynthesis or files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..defaults import BARK_MODEL, DECODERS, DEFAULT_MAX_LAG_MS, ENCODEC_MODEL, ENGINES, MAX_SEED, VOCODER_MODEL

if TYPE_CHECKING:
    from ..compare.scoring import Comparison

__all__ = ["add_arguments", "run"]

BANDWIDTHS = (1.5, 3.0, 6.0, 12.0)


def _named_path(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (e.g. vocos=out/vocos.wav), got {value!r}")
    return name, path


def _max_lag_ms(value: str) -> float:
    try:
        lag = float(value)
        if lag != lag or lag in (float("inf"), float("-inf")) or lag < 0:
            raise ValueError(value)
        return lag
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --max-lag-ms {value!r}: give a finite number of milliseconds >= 0 (0: no alignment)"
        ) from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid count {value!r}: give an integer >= 1")
    return number


def _bandwidth(value: str) -> float:
    try:
        bandwidth = float(value)
    except ValueError:
        bandwidth = float("nan")
    if bandwidth not in BANDWIDTHS:
        raise argparse.ArgumentTypeError(f"invalid bandwidth {value!r}: choose one of 1.5, 3, 6, 12 (kbps)")
    return bandwidth


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Modes: scoring (--candidate NAME=FILE..., optional --reference; or --candidate-dir NAME=DIR..., optional "
        "--reference-dir), resynthesis (--audio FILE... --bandwidth), text (--text TEXT...)."
    )
    score = parser.add_argument_group("scoring existing files")
    score.add_argument("--reference", metavar="FILE", help="clean reference; without it, no-reference measures")
    score.add_argument(
        "--candidate", metavar="NAME=FILE", type=_named_path, action="append", default=[], help="repeatable"
    )
    score.add_argument("--reference-dir", metavar="DIR", help="folder of references, paired by file name")
    score.add_argument(
        "--candidate-dir", metavar="NAME=DIR", type=_named_path, action="append", default=[], help="repeatable"
    )
    resynth = parser.add_argument_group("resynthesis of real speech")
    resynth.add_argument("--audio", metavar="FILE", action="append", default=[], help="speech to encode (repeatable)")
    resynth.add_argument("--bandwidth", type=_bandwidth, default=6.0, help="EnCodec kbps: 1.5, 3, 6 or 12 (default 6)")
    resynth.add_argument("--encodec", default=ENCODEC_MODEL, help="EnCodec model id or local path")
    text = parser.add_argument_group("from text")
    text.add_argument("--text", action="append", default=[], help="prompt to generate with Bark (repeatable)")
    text.add_argument("--bark", default=BARK_MODEL, help="Bark model id or local path")
    text.add_argument("--voice", default=None, help="Bark voice preset, e.g. v2/en_speaker_6")
    text.add_argument(
        "--text-file", metavar="FILE", help="prompts, one a line; 'builtin': 20 varied English prompts shipped with us"
    )
    text.add_argument("--seed", type=int, default=0, help="first generation seed (each text and seed its own)")
    text.add_argument("--seeds", type=_positive_int, default=1, help="generations per prompt (default 1)")
    text.add_argument(
        "--engines", nargs="+", choices=ENGINES, default=None, help="Bark engines to compare (default: exact only)"
    )
    text.add_argument(
        "--decoders", nargs="+", choices=DECODERS, default=None, help="decoders of each engine's codes (default: both)"
    )
    listen = parser.add_argument_group("blind listening test")
    listen.add_argument(
        "--listening-test", action="store_true", help="also write listening.html (A/B trials) and listening-key.json"
    )
    listen.add_argument("--listening-seed", type=int, default=0, help="seed of the trials' order and sides")
    listen.add_argument(
        "--listening-results",
        metavar="RESULTS.json",
        nargs="+",
        default=[],
        help="decode listeners' answer files with --out DIR's listening-key.json and add them to its report",
    )
    parser.add_argument("--vocoder", default=VOCODER_MODEL, help="Vocos model id or local path")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the wavs, report.json, report.html")
    parser.add_argument(
        "--max-lag-ms",
        type=_max_lag_ms,
        default=DEFAULT_MAX_LAG_MS,
        help=f"align each candidate to its reference within +- this many ms (default {DEFAULT_MAX_LAG_MS:g}; 0: off)",
    )


def _mode(args: argparse.Namespace) -> str:
    used = {
        "files": bool(args.candidate or args.reference),
        "dirs": bool(args.candidate_dir or args.reference_dir),
        "resynthesis": bool(args.audio),
        "text": bool(args.text or args.text_file),
    }
    chosen = [mode for mode, on in used.items() if on]
    if len(chosen) != 1:
        raise ValueError(
            "choose exactly one mode: --candidate NAME=FILE (with optional --reference), --candidate-dir NAME=DIR "
            f"(with optional --reference-dir), --audio FILE, or --text TEXT / --text-file FILE; got {chosen or 'none'}"
        )
    if chosen[0] != "text" and (args.engines or args.decoders or args.seeds != 1):
        raise ValueError("--engines, --decoders and --seeds apply to text mode only (--text or --text-file)")
    if chosen[0] == "files" and not args.candidate:
        raise ValueError("--reference needs at least one --candidate NAME=FILE")
    if chosen[0] == "dirs" and not args.candidate_dir:
        raise ValueError("--reference-dir needs at least one --candidate-dir NAME=DIR")
    if chosen[0] == "text":  # before any model loads
        if any(not text.strip() for text in args.text):
            raise ValueError("--text is empty or only whitespace: give some words to speak")
        if not 0 <= args.seed <= MAX_SEED - len(args.text) + 1:  # text i uses seed + i
            raise ValueError(f"--seed {args.seed} is out of range: give an integer from 0 to 2**64-{len(args.text)}")
    if chosen[0] in ("files", "dirs"):  # before the pairs become a dict, which would drop a repeated name
        from ..compare.scoring import check_candidate_names

        check_candidate_names([name for name, _ in args.candidate or args.candidate_dir])
    return chosen[0]


def _comparison(args: argparse.Namespace, mode: str) -> Comparison:
    from ..compare.resynthesis import compare_resynthesis
    from ..compare.scoring import compare_dirs, compare_files
    from ..compare.text import compare_text, read_prompts

    if mode == "files":
        return compare_files(dict(args.candidate), reference=args.reference, max_lag_ms=args.max_lag_ms)
    if mode == "dirs":
        return compare_dirs(dict(args.candidate_dir), reference_dir=args.reference_dir, max_lag_ms=args.max_lag_ms)
    if mode == "resynthesis":
        comparison = compare_resynthesis(
            args.audio,
            _load_encodec(args.encodec),
            _load_vocoder(args.vocoder),
            args.bandwidth,
            max_lag_ms=args.max_lag_ms,
        )
        comparison.settings.update(encodec=args.encodec, vocoder=args.vocoder)
        comparison.notes.extend(_random_weights_notes(args.encodec, args.vocoder))
        return comparison
    from bark_vocos.hub import check_model_source

    from .. import TextToWavPipeline

    texts = [*args.text, *(read_prompts(args.text_file) if args.text_file else [])]
    check_model_source(args.bark, "Bark model", "--bark PATH", "bark")
    check_model_source(args.vocoder, "Vocos vocoder", "--vocoder PATH")
    pipeline = TextToWavPipeline.from_pretrained(bark=args.bark, vocoder=args.vocoder)
    extra = {"voice_preset": args.voice} if args.voice else {}
    decoders = args.decoders or ["encodec", "vocos"]
    comparison = compare_text(
        texts, pipeline, seed=args.seed, seeds=args.seeds, engines=args.engines, decoders=decoders, **extra
    )
    comparison.settings.update(bark=args.bark, vocoder=args.vocoder, voice=args.voice)
    comparison.notes.extend(_random_weights_notes(args.bark, args.vocoder))
    return comparison


def _random_weights_notes(*paths: str) -> list[str]:
    """One note per checkpoint folder that `bark-vocos make-tiny` (or a test) marked as random weights."""
    from bark_vocos.tiny import is_random_checkpoint

    return [
        f"{path} holds RANDOM weights (test checkpoint): its audio is noise, not speech, and the scores mean nothing"
        for path in paths
        if is_random_checkpoint(path)
    ]


def _load_encodec(name_or_path: str):
    from transformers import EncodecModel

    from bark_vocos.hub import check_model_source, explain_unavailable

    check_model_source(name_or_path, "EnCodec model", "--encodec PATH", "encodec")
    with explain_unavailable(name_or_path, "EnCodec model", "--encodec PATH"):
        return EncodecModel.from_pretrained(name_or_path).eval()


def _load_vocoder(name_or_path: str):
    from bark_vocos import VocosEncodecModel
    from bark_vocos.hub import check_model_source

    check_model_source(name_or_path, "Vocos vocoder", "--vocoder PATH")
    return VocosEncodecModel.from_pretrained(name_or_path).eval()  # explains an unreachable hub id itself


def _time_dnsmos(comparison: Comparison) -> float:
    """Seconds DNSMOS takes on a 10 s clip (the first candidate's audio, repeated) on 2 threads; stored in settings."""
    from ..compare.dnsmos import time_dnsmos

    item = comparison.items[0]
    seconds = time_dnsmos(item.audio[comparison.candidates[0]], comparison.sampling_rate, seconds=10.0, threads=2)
    comparison.settings["dnsmos_seconds_per_10s_clip_2_threads"] = round(seconds, 4)
    return seconds


def _listening_results(args: argparse.Namespace) -> int:
    """Decode the answer files with the key in --out, print the summary, write it and add it to report.json."""
    import json

    from ..compare.listening import KEY_FILE, format_listening, listening_results
    from ..compare.report import write_text_atomic

    if args.candidate or args.candidate_dir or args.reference or args.reference_dir or args.audio or args.text:
        raise ValueError("--listening-results takes no mode's inputs: give the answer files and --out DIR only")
    out = Path(args.out)
    key_path, report_path = out / KEY_FILE, out / "report.json"
    if not key_path.is_file():
        raise FileNotFoundError(f"{key_path} not found: --out must be the folder compare --listening-test wrote")
    results = []
    for path in args.listening_results:
        try:
            results.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read listening results {path}: {error}") from None
    summary = listening_results(json.loads(key_path.read_text(encoding="utf-8")), results)
    text = json.dumps(summary, indent=2) + "\n"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else None
    write_text_atomic(out / "listening-results.json", text)
    if report is not None:
        report["listening"] = summary
        write_text_atomic(report_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(format_listening(summary))
    print(f"wrote {out / 'listening-results.json'}" + (f" and added it to {report_path}" if report else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.listening_results:
        return _listening_results(args)
    mode = _mode(args)  # checks before anything heavy loads
    from ..compare.report import format_table, write_report

    comparison = _comparison(args, mode)
    dnsmos_seconds = _time_dnsmos(comparison)
    paths = write_report(comparison, Path(args.out))
    print(format_table(comparison))
    print(f"DNSMOS of a 10 s clip on 2 threads: {dnsmos_seconds:.3f} s")
    print(f"wrote {paths['json']} and {paths['html']}")
    if args.listening_test:
        from ..compare.listening import write_listening_test

        listening = write_listening_test(comparison, Path(args.out), seed=args.listening_seed)
        print(f"wrote {listening['page']} (blind A/B trials; the answers' key is {listening['key']})")
    return 0
