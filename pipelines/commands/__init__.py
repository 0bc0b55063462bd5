"""The `bark-vocos` command line: one dispatcher, one module per command, one way to report user errors."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pickle
import signal
import sys
import threading
import warnings
import zipfile
from collections.abc import Iterator, Sequence

from bark_vocos.errors import BarkVocosError

from ..speech.memory import keep_freed_memory

__all__ = [
    "COMMANDS",
    "DEBUG_ENV",
    "OWN_LOGGERS",
    "OWN_WARNING_PREFIX",
    "Terminated",
    "main",
    "third_party_output_hidden",
    "user_error_message",
    "versions",
]

# command (words separated by a space) -> (module in this package, with `add_arguments(parser)` and `run(args)`; help)
COMMANDS: dict[str, tuple[str, str]] = {
    "say": ("say", "text to a wav/flac file with Bark, decoded by Vocos"),
    "tune": ("tune", "measure this machine's kernel choices once, for every later process (the tuning record)"),
    "make-tiny": ("make_tiny", "write tiny random Bark + Vocos checkpoints (noise) for offline tests"),
    "decode": ("decode", "decode EnCodec codes (.npy, shape (K, T)) to a wav with the Vocos vocoder"),
    "convert": ("convert", "convert a Vocos checkpoint of any known layout to the transformers layout"),
    "inspect": ("inspect", "name the Vocos checkpoint layout a folder or hub id holds and what would load"),
    "bench vocoder": ("bench_vocoder", "time our Vocos decoder against the original Vocos and EnCodec"),
    "compare": ("compare", "score candidate decoders (EnCodec decoder, Vocos, files): scores, spectrograms, audio"),
    "batch": ("batch", "a JOBS file of texts to audio files and a resumable manifest, locally or on a Ray cluster"),
    "bench batch": ("bench_batch", "rows/s and audio-s/s of the local and the Ray batch runner, in one run"),
    "bench stream": ("bench_stream", "time to first audio of a stream vs one call on the same text (random weights)"),
    "bench pipeline": (
        "bench_pipeline",
        "time transformers' Bark against our faster stages (random weights)",
    ),
    "bench oneshot": (
        "bench_oneshot",
        "one sentence as a whole process, ours against the model card's (random weights)",
    ),
    "serve": ("serve", "an OpenAI-compatible speech server (POST /v1/audio/speech) with a listening page"),
    "bench serve": ("bench_serve", "time to first byte and total of a streamed server request against pipe(...)"),
    "voice clone": ("voice_clone", "a Bark voice preset (.npz) from a recording of someone's speech"),
}

TUNING_HELP = "neither read nor write the machine's tuning record (same as BARK_VOCOS_TUNING_RECORD=off)"
# Set to 1 (or pass --debug) for the full traceback of an expected error, e.g. for a bug report.
DEBUG_ENV = "BARK_VOCOS_DEBUG"

# Errors a user can meet and fix; anything else is a bug and keeps its traceback. The third-party ones are what the
# loaders raise for a damaged or refused file: a truncated safetensors file, an empty or cut .npy/.npz, a refused
# pickle (torch.load(weights_only=True)), malformed YAML.
USER_ERRORS = (BarkVocosError, ValueError, TypeError, OSError)
_FILE_ERRORS = {
    EOFError: "the file is empty or cut short",
    zipfile.BadZipFile: "not a valid zip archive (.npz / pytorch_model.bin)",
    pickle.UnpicklingError: "refused: the file holds pickled Python objects, which could run code",
}
# torch's message for a cut or damaged pytorch_model.bin; other RuntimeErrors are bugs and keep their traceback
_TORCH_ZIP_ERROR = "PytorchStreamReader failed"


def _third_party_file_errors() -> dict[type, str]:
    errors = dict(_FILE_ERRORS)
    import yaml
    from safetensors import SafetensorError

    errors[yaml.YAMLError] = "malformed YAML"
    errors[SafetensorError] = "not a valid safetensors file (truncated or damaged?)"
    return errors


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def user_error_message(error: BaseException) -> str | None:
    """The one line the CLI prints for an expected failure, or None for a bug (which keeps its traceback)."""
    if isinstance(error, USER_ERRORS):
        return _first_line(str(error)) or type(error).__name__
    for kind, meaning in _third_party_file_errors().items():
        if isinstance(error, kind):
            detail = _first_line(str(error))
            return f"{meaning} ({detail})" if detail else meaning
    if isinstance(error, RuntimeError) and str(error).startswith(_TORCH_ZIP_ERROR):
        return f"a PyTorch checkpoint file is cut short or damaged ({_first_line(str(error)).split('. ')[0]})"
    return None


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so the same clean-up as Ctrl-C runs (temporary files are removed)."""


# Signals received while a command ran: a KeyboardInterrupt raised where Python cannot propagate it (a `__del__`, such
# as a progress bar's close when it is collected) is only printed and the command would run on to exit 0.
_RECEIVED: set[int] = set()


def _raise_terminated(signum: int, frame) -> None:
    _RECEIVED.add(signum)
    raise Terminated()


def _raise_interrupt(signum: int, frame) -> None:
    _RECEIVED.add(signum)
    raise KeyboardInterrupt()


@contextlib.contextmanager
def _termination_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` in the main thread instead of killing Python at once, and
    both SIGTERM and SIGINT are recorded in `_RECEIVED` (see there).

    Python's default on SIGTERM is to die without unwinding, which left the `.part` file of a write in progress;
    as an exception it takes the path Ctrl-C takes, through `files.atomic_output`'s clean-up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _RECEIVED.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_interrupt = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)


# Our own warnings start with this, so they stay visible when others' are hidden.
OWN_WARNING_PREFIX = "bark-vocos"
# Our packages' loggers; every other package's log records are shown with --debug only.
OWN_LOGGERS = ("bark_vocos", "pipelines")


_HUB_BARS_ENV = "HF_HUB_DISABLE_PROGRESS_BARS"


class _OwnRecordsOnly(logging.Filter):
    """Passes the log records of our own packages' loggers; drops every other package's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".", 1)[0] in OWN_LOGGERS


def _quiet_third_party_warnings() -> None:
    """Hide other packages' warnings (transformers, torch, kernels, ...) in normal runs; ours stay visible.

    Matched by message rather than module: a library's warning points at its caller (stacklevel), which is often our
    code (e.g. torch.ao's, raised where `OptimizedBarkStages` quantises).
    """
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", message=OWN_WARNING_PREFIX)


@contextlib.contextmanager
def third_party_output_hidden(debug: bool) -> Iterator[None]:
    """While the block runs, only our own warnings and log records reach stderr, unless `debug`; restored after.

    A dependency may log on import or on load (transformers 5.25 pulls in `kernels`, which logs three lines on every
    offline import): left to Python's last-resort handler those lines broke the CLI's one-line errors. Here every
    record that propagates to the root logger passes one handler that keeps ours only, and transformers' own handler
    (which does not propagate) is turned down to errors that matter to nobody but a debugging user.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    if not debug:
        handler.addFilter(_OwnRecordsOnly())
    transformers_logger = logging.getLogger("transformers")
    saved = root.level, transformers_logger.level, os.environ.get("TRANSFORMERS_VERBOSITY")
    saved_bars = os.environ.get(_HUB_BARS_ENV)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    with warnings.catch_warnings():
        if not debug:
            _quiet_third_party_warnings()
            # read by transformers when it sets up its logger (on import); set directly when it is already imported
            os.environ["TRANSFORMERS_VERBOSITY"] = "critical"
            transformers_logger.setLevel(logging.CRITICAL)
            # transformers' and the hub's own bars ("Loading weights: 0%| ...") follow this variable (read on import)
            os.environ[_HUB_BARS_ENV] = "1"
            if "transformers" in sys.modules:
                sys.modules["transformers"].utils.logging.disable_progress_bar()
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(saved[0])
            transformers_logger.setLevel(saved[1])
            for variable, value in (("TRANSFORMERS_VERBOSITY", saved[2]), (_HUB_BARS_ENV, saved_bars)):
                if value is None:
                    os.environ.pop(variable, None)
                else:
                    os.environ[variable] = value


class _Parser(argparse.ArgumentParser):
    """argparse's parser with our error line: the usage block, then `bark-vocos: error: COMMAND: ...` (exit 2)."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        command = self.prog.removeprefix("bark-vocos").strip()
        self.exit(2, f"bark-vocos: error: {command + ': ' if command else ''}{message}\n")


# what a bug report needs: our version and those of the libraries that compute the audio
VERSION_PACKAGES = ("bark-vocos", "torch", "transformers", "onnxruntime", "numpy", "python")


def versions() -> str:
    """One line `bark-vocos 0.1.0, torch 2.13.0, ...`, read from the installed packages' metadata (nothing imported)."""
    from importlib import metadata

    found = []
    for name in VERSION_PACKAGES:
        if name == "python":
            found.append(f"python {sys.version.split()[0]}")
            continue
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(versions())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command (nested ones such as `bench vocoder` included)."""
    parser = _Parser(
        prog="bark-vocos",
        description=(
            "Text to speech with Bark, decoded by Vocos. Errors print one line; --debug (or "
            f"{DEBUG_ENV}=1) shows the full traceback for a bug report."
        ),
    )
    parser.add_argument("--debug", action="store_true", help=f"full tracebacks (same as {DEBUG_ENV}=1)")
    parser.add_argument("--no-tuning-cache", action="store_true", help=TUNING_HELP)
    parser.add_argument(
        "--version", action=_VersionAction, help="print the versions of bark-vocos, torch, transformers, ONNX Runtime"
    )
    # the same switch after the command name; SUPPRESS keeps the top-level value when it is not repeated there
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="full tracebacks")
    common.add_argument("--no-tuning-cache", action="store_true", default=argparse.SUPPRESS, help=TUNING_HELP)
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, (module_name, help_text) in COMMANDS.items():
        words = name.split()
        subparsers = top
        if len(words) == 2:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
            subparsers = groups[words[0]]
        sub = subparsers.add_parser(words[-1], help=help_text, description=help_text, parents=[common])
        module = importlib.import_module(f"{__name__}.{module_name}")
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def _reader_gone() -> int:
    """The reader of our stdout closed it (`| head`): end quietly with 128 + SIGPIPE, as `cat` and `yes` do.

    stdout is pointed at /dev/null first, so Python's flush at exit does not fail (and print) a second time.
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + getattr(signal, "SIGPIPE", 13)


def _run(args: argparse.Namespace) -> int:
    """The command's `run`, without the tuning record (`bark_vocos.tuning`) when `--no-tuning-cache` is given."""
    from bark_vocos.settings import override

    with override(tuning_record="off") if args.no_tuning_cache else contextlib.nullcontext():
        return int(args._run(args) or 0)


def _forget_caught_interrupt() -> None:
    """Clear CPython's note of an uncaught Ctrl-C once we have caught it, so the process exits with our status.

    CPython marks an interrupt as uncaught whenever a KeyboardInterrupt leaves code run from a string (`exec` and
    `eval` of source, which `dataclasses` and `namedtuple` use on import), even when a caller catches it later; at the
    exit of `python -m pipelines` such a mark kills the process with SIGINT (status -2) instead of returning 130. Each
    such run clears the mark first, so running one empty string here clears it.
    """
    exec("pass")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 user error, 2 usage error, 130/143 stopped, 141 no reader).

    Every expected failure (see `user_error_message`) is printed here, and only here, as one line
    `bark-vocos: error: ...`; with `--debug` or `BARK_VOCOS_DEBUG=1` it is raised with its traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # decided before parsing: the command modules import torch and transformers, whose warnings come at import
    debug = "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    with third_party_output_hidden(debug), _termination_raises():
        try:
            args = build_parser().parse_args(argv)
            keep_freed_memory()  # our own process: tensors reuse freed memory instead of faulting in new pages
            code = _run(args)
        except (KeyboardInterrupt, Terminated):
            code = None
        except BrokenPipeError:
            return _reader_gone()
        except Exception as error:
            message = user_error_message(error)
            if debug or message is None:
                raise
            print(f"bark-vocos: error: {message}", file=sys.stderr)
            return 1
        if _RECEIVED:
            _forget_caught_interrupt()
        if code is not None and (not _RECEIVED or code in (130, 128 + signal.SIGTERM)):
            return code  # ran to the end, or reported the stop itself (serve)
        if signal.SIGTERM in _RECEIVED:
            print("bark-vocos: terminated (no partial output kept)", file=sys.stderr)
            return 128 + signal.SIGTERM
        print("bark-vocos: interrupted (no partial output kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
