"""`bark-vocos serve`: the OpenAI-compatible speech server (needs the `server` extra: fastapi, uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys

from ..defaults import ENCODEC_MODEL, HUBERT_MODEL, QUANTIZER_MODEL
from .options import (
    add_engine_options,
    add_first_chunk_option,
    add_model_options,
    check_engine_options,
    random_weights_note,
)

__all__ = ["API_KEY_ENV", "add_arguments", "run"]

API_KEY_ENV = "BARK_VOCOS_API_KEY"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` options."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    add_model_options(parser)
    add_engine_options(parser)
    parser.add_argument(
        "--api-key", help=f"require 'Authorization: Bearer KEY' on /v1/... (default: the {API_KEY_ENV} variable)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=4, help="requests waiting behind the one generating (default: %(default)s)"
    )
    parser.add_argument(
        "--max-input-chars", type=int, default=4096, help="longest input in characters (default: %(default)s)"
    )
    add_first_chunk_option(parser)
    parser.add_argument(
        "--voice-alias",
        action="append",
        default=[],
        metavar="NAME=PRESET",
        help="map a voice name to a Bark preset (repeatable); replaces the default OpenAI names alloy, echo, ...",
    )
    upload = parser.add_argument_group("voice upload (POST /v1/audio/voices: a recording becomes a voice)")
    upload.add_argument(
        "--allow-voice-upload",
        action="store_true",
        help="accept uploaded recordings as voices (off by default; the API key applies); loads HuBERT, the "
        "quantizer and EnCodec (see `voice clone`)",
    )
    upload.add_argument("--hubert", default=HUBERT_MODEL, help="HuBERT hub id or folder (default: %(default)s)")
    upload.add_argument(
        "--quantizer", default=QUANTIZER_MODEL, help="quantizer file, folder or hub id (default: %(default)s)"
    )
    upload.add_argument("--encodec", default=ENCODEC_MODEL, help="EnCodec hub id or folder (default: %(default)s)")
    upload.add_argument(
        "--max-upload-seconds", type=float, default=120.0, help="longest recording accepted (default: %(default)s)"
    )
    upload.add_argument(
        "--max-upload-mb", type=float, default=20.0, help="largest upload in MiB (default: %(default)s)"
    )


def _aliases(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    aliases = {}
    for pair in pairs:
        name, sep, preset = pair.partition("=")
        if not sep or not name or not preset:
            raise ValueError(f"--voice-alias takes NAME=PRESET, got '{pair}'")
        aliases[name] = preset
    return aliases


def _check_aliases(aliases: dict[str, str], presets: list[str]) -> None:
    """Every `--voice-alias` must name a preset of the loaded Bark model (the default names fall back, yours do not)."""
    for name, preset in aliases.items():
        if preset not in presets:
            shown = ", ".join(presets[:6]) + (", ..." if len(presets) > 6 else "") if presets else "none"
            raise ValueError(
                f"--voice-alias {name}={preset}: this Bark model has no preset '{preset}' (its presets: {shown}; "
                "bark-vocos say --list-voices lists them)"
            )


def _stopped(worker, signal_name: str) -> None:
    """The line a stopped server prints: what stopped it and the requests it dropped."""
    stats = worker.stats()
    in_flight = int(stats["busy"]) + stats["waiting"]
    print(f"bark-vocos: server stopped ({signal_name}); {in_flight} request(s) were in flight", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Check the settings and bind the address, then load the models once, print the URL, serve until stopped."""
    try:
        import uvicorn
    except ImportError:
        raise ValueError('the server needs fastapi and uvicorn: pip install -e ".[server]"') from None
    from ..server import OPENAI_VOICES, ServerSettings, bind

    aliases = _aliases(args.voice_alias)
    settings = ServerSettings(
        api_key=args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV) or None,
        max_queue=args.max_queue,
        max_input_chars=args.max_input_chars,
        voice_aliases=aliases or dict(OPENAI_VOICES),
        generation_kwargs={} if args.first_chunk_tokens is None else {"first_chunk_tokens": args.first_chunk_tokens},
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_upload_seconds=args.max_upload_seconds,
    )
    if args.first_chunk_tokens is not None and args.first_chunk_tokens < 1:
        raise ValueError(f"--first-chunk-tokens must be >= 1, got {args.first_chunk_tokens}")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in [0, 65535], got {args.port}")
    check_engine_options(args)
    sock = bind(args.host, args.port)  # a busy port or a bad address fails now, not after the models load
    try:
        return _serve(args, sock, settings, aliases is not None, uvicorn)
    finally:
        sock.close()


def _serve(args: argparse.Namespace, sock, settings, own_aliases: bool, uvicorn) -> int:
    """Load, build the app on the bound socket `sock`, serve; returns the exit code (130/143 when stopped)."""
    from transformers.utils import logging as transformers_logging

    from ..server import create_app
    from ..speech.text_to_wav import TextToWavPipeline
    from . import Terminated

    transformers_logging.set_verbosity_error()
    print(f"loading {args.bark} and {args.vocoder} ...", file=sys.stderr)
    pipe = TextToWavPipeline.from_pretrained(
        bark=args.bark, vocoder=args.vocoder, device=args.device, dtype=args.dtype, engine=args.engine
    )
    if own_aliases:
        _check_aliases(settings.voice_aliases, pipe.available_voice_presets)
    cloner = None
    if args.allow_voice_upload:
        from ..speech.voice_cloning import VoiceCloner

        print(f"loading {args.hubert}, {args.quantizer} and {args.encodec} for voice upload ...", file=sys.stderr)
        cloner = VoiceCloner.from_pretrained(
            hubert=args.hubert, quantizer=args.quantizer, encodec=args.encodec, bark=args.bark, device=args.device
        )
    app = create_app(pipe, settings, cloner=cloner)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"bark-vocos speech server on http://{shown}:{port}/ (API: http://{shown}:{port}/v1)")
    if args.host in LOOPBACK:
        print("listening on loopback only: other machines cannot connect (use --host 0.0.0.0 and --api-key to share)")
    else:
        keyed = settings.api_key is not None
        print(f"listening on {args.host}: reachable from other machines" + ("" if keyed else ", with NO API key"))
    if cloner is not None:
        print("voice upload is on: POST /v1/audio/voices (clone only voices of people who agreed)")
    note = random_weights_note(args.bark, args.vocoder)
    if note:
        print(note)
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        _stopped(app.state.worker, "Ctrl-C")
        return 130
    except Terminated:
        _stopped(app.state.worker, "SIGTERM")
        return 128 + 15
    return 0
