"""Which published Vocos-EnCodec checkpoint layout a folder or hub id holds, found from its files alone.

Three layouts are known:

- `vocos_encodec`: the transformers port's final layout (huggingface/transformers PR #39403, pushed to
  `hf-audio/vocos-encodec-24khz`): `config.json` with model_type `vocos_encodec`, weights `model.safetensors`
  or `pytorch_model.bin` with keys `codebook_weights`, `embed.*`, `norm.*`, `layers.N.*`, `final_layer_norm.*`,
  `decoder.out.*`, `decoder.window`, and a processor in `processor_config.json` (older transformers:
  `preprocessor_config.json`).
- `vocos`: earlier revisions of the same port (mirrors such as `Manel/Vocos-Encodec`): `config.json` with
  model_type `vocos_with_encodec` or `vocos` and `VocosConfig` fields (`input_channels`, `hidden_dim`,
  `spec_padding`, `use_adaptive_norm`, ...), keys `codebook_weights`, `backbone.*`, `head.out_proj.*`,
  `head.window` (plus the EnCodec model's own `encodec_model.*`, which the vocoder does not use).
- `original`: `charactr/vocos-encodec-24khz` as gemelo-ai/vocos writes it: `config.yaml` (`class_path` /
  `init_args`) and `pytorch_model.bin` with keys `feature_extractor.*`, `backbone.*`, `head.*`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LAYOUTS",
    "PROCESSOR_FILES",
    "WEIGHT_FILES",
    "CheckpointLayout",
    "UnknownLayoutError",
    "detect_layout",
    "hub_options",
]

# layout name -> what it is, for messages and `bark-vocos inspect`
LAYOUTS: dict[str, str] = {
    "vocos_encodec": "transformers port, final layout (PR #39403; hf-audio/vocos-encodec-24khz)",
    "vocos": "transformers port, earlier layout (model_type vocos / vocos_with_encodec; backbone.* / head.* keys)",
    "original": "original gemelo-ai/vocos layout (charactr/vocos-encodec-24khz: config.yaml + pytorch_model.bin)",
}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # in the order transformers prefers them
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
_EARLIER_MODEL_TYPES = ("vocos_with_encodec", "vocos")
_HUB_OPTIONS = ("revision", "cache_dir", "token", "local_files_only", "subfolder", "force_download")


class UnknownLayoutError(ValueError):
    """A folder or hub id holds no Vocos-EnCodec checkpoint in any known layout."""


@dataclass(frozen=True)
class CheckpointLayout:
    """What `detect_layout` found.

    Args:
        name: One of `LAYOUTS` ("vocos_encodec", "vocos", "original").
        source: The folder or hub id as given.
        config_file: Local path of `config.json` or `config.yaml`.
        config: The parsed config file, as saved.
        weights_file: Local path of the weights the model would load (`model.safetensors` preferred).
        processor_files: Local paths of the processor files present (none for the original layout).
    """

    name: str
    source: str
    config_file: Path
    config: dict[str, Any]
    weights_file: Path
    processor_files: tuple[Path, ...] = field(default=())

    @property
    def description(self) -> str:
        """One line saying what the layout is."""
        return LAYOUTS[self.name]

    @property
    def model_type(self) -> str | None:
        """The saved `model_type` (None for the original layout, which has none)."""
        return self.config.get("model_type") if self.name != "original" else None


def hub_options(kwargs: dict) -> dict:
    """The keyword arguments of `from_pretrained` that matter for finding files (revision, cache_dir, ...)."""
    return {name: kwargs[name] for name in _HUB_OPTIONS if name in kwargs}


def detect_layout(name_or_path: str | os.PathLike, **hub_kwargs) -> CheckpointLayout:
    """Finds the layout of a local folder or hub id from its files.

    Args:
        name_or_path: Local folder or hub id.
        **hub_kwargs: `revision`, `cache_dir`, `token`, `local_files_only`, `subfolder`, `force_download`.

    Returns:
        The `CheckpointLayout`, with the local paths of the files the model and processor would load.

    Raises:
        UnknownLayoutError: (a `ValueError`) when the files match no known layout; the message names the files
            found and the known layouts.
        OSError: When a hub id cannot be reached or is not cached (offline), or a local path is not a folder.
    """
    source = os.fspath(name_or_path)
    if os.path.exists(source) and not os.path.isdir(source):
        raise NotADirectoryError(f"{source} is a file; pass the checkpoint's folder")
    files = _Files(source, hub_kwargs)
    config_json, config_yaml = files.get("config.json"), files.get("config.yaml")
    if config_json is None and config_yaml is None:
        files.raise_if_unavailable()
        raise _unknown(source, "it has neither config.json nor config.yaml", files.found)
    if config_json is not None:
        config = _read_json(config_json)
        model_type = config.get("model_type")
        if model_type == "vocos_encodec":
            name = "vocos_encodec"
        elif model_type in _EARLIER_MODEL_TYPES:
            name = "vocos"
            if config.get("use_adaptive_norm") is not True:
                raise _unknown(
                    source,
                    f"its config.json is a {model_type!r} model without use_adaptive_norm (a mel-spectrogram "
                    "Vocos, not the EnCodec one)",
                    files.found,
                )
        else:
            raise _unknown(source, f"its config.json has model_type {model_type!r}", files.found)
        weights = files.first(WEIGHT_FILES)
        processors = tuple(path for path in (files.get(name) for name in PROCESSOR_FILES) if path is not None)
        config_file = config_json
    else:
        config = _read_yaml(config_yaml)
        name, config_file, processors = "original", config_yaml, ()
        weights = files.get("pytorch_model.bin")
    if weights is None:
        wanted = "pytorch_model.bin" if name == "original" else " or ".join(WEIGHT_FILES)
        raise _unknown(source, f"it looks like the {name} layout but has no weights ({wanted})", files.found)
    return CheckpointLayout(name, source, config_file, config, weights, processors)


class _Files:
    """Looks files up in a local folder or a hub repo, remembering which were found."""

    def __init__(self, source: str, hub_kwargs: dict):
        self.source = source
        self.hub_kwargs = dict(hub_kwargs)
        self.local = os.path.isdir(source)
        self.found: list[str] = []
        self.unavailable: OSError | None = None

    def get(self, filename: str) -> Path | None:
        """Local path of `filename`, or None when the folder or repo does not have it."""
        if self.local:
            path = Path(self.source) / self.hub_kwargs.get("subfolder", "") / filename
            found = path if path.is_file() else None
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

            try:
                found = Path(hf_hub_download(self.source, filename, **self.hub_kwargs))
            except LocalEntryNotFoundError as error:  # offline and not cached: maybe absent, maybe unreachable
                self.unavailable = self.unavailable or error
                found = None
            except EntryNotFoundError:
                found = None
        if found is not None:
            self.found.append(filename)
        return found

    def first(self, filenames: tuple[str, ...]) -> Path | None:
        for filename in filenames:
            path = self.get(filename)
            if path is not None:
                return path
        return None

    def raise_if_unavailable(self) -> None:
        """Re-raises the hub's 'not cached while offline' error when that is why nothing was found."""
        if self.unavailable is not None:
            raise self.unavailable


def _unknown(source: str, reason: str, found: list[str]) -> UnknownLayoutError:
    known = "; ".join(f"{name}: {description}" for name, description in LAYOUTS.items())
    return UnknownLayoutError(
        f"{source} holds no Vocos-EnCodec checkpoint in a known layout: {reason} (files found: "
        f"{', '.join(found) or 'none of config.json, config.yaml'}). Known layouts: {known}"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a YAML mapping, found {type(data).__name__}")
    return data
