"""Loading from a local folder or the Hugging Face Hub, with one clear error when neither works."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelNotAvailableError

__all__ = ["check_model_source", "explain_unavailable", "is_local"]

# Files whose presence in the local hub cache means a repo was downloaded before (either Vocos layout, or Bark).
_CACHE_MARKERS = ("config.json", "config.yaml")
_REACHABILITY_TIMEOUT_S = 10.0


def is_local(name_or_path: str | os.PathLike) -> bool:
    """Whether `name_or_path` names an existing local folder or file (rather than a hub id)."""
    return os.path.exists(os.fspath(name_or_path))


def check_model_source(name_or_path: str | os.PathLike, what: str, option: str, model_type: str | None = None) -> None:
    """Fail early, with one line naming the folder or file, when a model source cannot be what it should be.

    A local folder must be a folder; its `config.json` / `config.yaml` must parse, and name `model_type` when one is
    given (a Vocos vocoder has several layouts, which its own loader tells apart: pass None); its weights' container
    must be whole (a safetensors header that covers the file, a `pytorch_model.bin` that is a complete zip archive).
    Only headers are read, never the weights. A name that is not a local path must look like a hub id
    (`owner/name`); whether the hub has it is `explain_unavailable`'s job.

    Args:
        name_or_path: The hub id or local folder given by the user.
        what: What is being loaded, for the message (e.g. "Bark model").
        option: How the user passes it (e.g. "--bark PATH").
        model_type: The `model_type` its config.json must name ("bark", "encodec"), or None.

    Raises:
        ModelNotAvailableError: The path does not exist and is no hub id, or the folder is not such a checkpoint or
            its files are damaged.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    name = os.fspath(name_or_path)
    if not is_local(name):
        try:
            validate_repo_id(name)
        except HFValidationError:
            raise ModelNotAvailableError(
                f"{what} folder not found: {name} (no such path, and not a hub id of the form owner/name); "
                f"pass an existing folder with {option}"
            ) from None
        return
    folder = Path(name)
    if not folder.is_dir():
        raise ModelNotAvailableError(f"{what} {name} is a file: pass the checkpoint's folder with {option}")
    if (folder / "config.yaml").is_file():
        import yaml

        try:
            yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            detail = " ".join(str(error).split())
            raise ModelNotAvailableError(f"{folder / 'config.yaml'} is not valid YAML ({detail})") from None
    config_path = folder / "config.json"
    found = None
    if config_path.is_file():
        try:
            found = json.loads(config_path.read_text(encoding="utf-8")).get("model_type")
        except (ValueError, AttributeError) as error:
            raise ModelNotAvailableError(f"{config_path} is not a valid JSON config ({error})") from None
    if model_type is not None:
        if not config_path.is_file():
            raise ModelNotAvailableError(f"{name} is not a {what} folder: it has no config.json (check {option})")
        if found != model_type:
            raise ModelNotAvailableError(
                f"{name} holds a {found!r} model, not a {what} ({model_type!r}): check {option}"
            )
    _check_weight_files(folder)


def _check_weight_files(folder: Path) -> None:
    """Raises when a weights file in `folder` is cut short or not what its name says (headers only)."""
    safetensors_path, bin_path = folder / "model.safetensors", folder / "pytorch_model.bin"
    if safetensors_path.is_file():
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(safetensors_path, framework="pt"):
                pass
        except SafetensorError as error:
            raise ModelNotAvailableError(
                f"{safetensors_path} is damaged or cut short ({error}): download or convert it again"
            ) from None
    if bin_path.is_file() and not zipfile.is_zipfile(bin_path) and not _is_legacy_torch_file(bin_path):
        raise ModelNotAvailableError(
            f"{bin_path} is damaged or cut short (neither a complete PyTorch zip archive nor PyTorch's older "
            "non-zip format): download or convert it again"
        )


# The start of PyTorch's older non-zip format (`torch.save(..., _use_new_zipfile_serialization=False)`): pickle
# protocol 2 and the format's magic number (0x1950a86a20f9469cfc6c). `torch.load(weights_only=True)` reads it safely.
_LEGACY_TORCH_START = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _is_legacy_torch_file(path: Path) -> bool:
    with open(path, "rb") as file:
        return file.read(len(_LEGACY_TORCH_START)) == _LEGACY_TORCH_START


@contextlib.contextmanager
def explain_unavailable(name_or_path: str | os.PathLike, what: str, option: str) -> Iterator[None]:
    """Turn a failed hub look-up inside the block into one `ModelNotAvailableError` line.

    Args:
        name_or_path: The hub id or local path being loaded.
        what: What is being loaded, for the message (e.g. "Vocos vocoder").
        option: How the user passes a local path instead (e.g. "--vocoder PATH or vocoder=PATH").

    Raises:
        ModelNotAvailableError: When `name_or_path` is not a local path and loading it raised an `OSError`
            (transformers and huggingface_hub raise `OSError` subclasses for unreachable or unknown repos).
    """
    if not is_local(name_or_path) and not _offline() and not _cached(os.fspath(name_or_path)):
        # One quick look-up first: without it an unreachable hub costs a minute of retries per file before failing.
        try:
            _check_reachable(os.fspath(name_or_path))
        except Exception as error:  # noqa: BLE001 - any failure of the look-up means the model cannot be had
            raise _unavailable(name_or_path, what, option) from error
    try:
        yield
    except ModelNotAvailableError:
        raise
    except OSError as error:
        if is_local(name_or_path):
            raise
        raise _unavailable(name_or_path, what, option) from error


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _unavailable(name_or_path: str | os.PathLike, what: str, option: str) -> ModelNotAvailableError:
    reason = "it is not looked up (HF_HUB_OFFLINE is set)"
    if not _offline():
        reason = "the Hub cannot be reached or has no such model"
    name = os.fspath(name_or_path)
    return ModelNotAvailableError(
        f"cannot load {what} '{name}': there is no local folder of that name, and as a hub id {reason}. "
        f"If it is a folder, check the path; if it is a hub id, download it where you have internet "
        f"(huggingface-cli download {name}) and pass its local folder with {option}."
    )


def _cached(repo_id: str) -> bool:
    """Whether the hub cache already holds this repo (then loading works without the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in _CACHE_MARKERS)
    except ValueError:  # not a valid repo id: let the loader say what is wrong
        return True


@functools.cache
def _check_reachable(repo_id: str) -> None:
    """Raises when the hub does not answer for `repo_id` within a few seconds; remembered once it did."""
    from huggingface_hub import HfApi

    HfApi().model_info(repo_id, timeout=_REACHABILITY_TIMEOUT_S)
