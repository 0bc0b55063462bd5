"""The HuBERT-to-Bark-semantic quantizer (gitmylo's `CustomTokenizer` format): model, strict loader and writer.

The community's quantizer (gitmylo/bark-voice-cloning-HuBERT-quantizer, MIT) maps HuBERT base features, 50 frames/s
of the 9th transformer layer's output, to Bark semantic tokens: a 2-layer LSTM, an optional linear layer to 4096
(version 1), a linear layer to the semantic vocabulary, argmax per frame. Its published checkpoints (hub repo
`GitMylo/bark-voice-cloning`) are a `torch.save`d state dict; the newer ones carry a `<name>/.info` JSON member in the
same zip with `input_size`, `hidden_size`, `output_size` and `version`; older files have none and use version 0's
sizes. This module reads and writes exactly that format, strictly: only tensors (`torch.load(weights_only=True)`),
every key and shape checked against the `.info` sizes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ModelNotAvailableError
from .hub import explain_unavailable, is_local

__all__ = [
    "INFO_MEMBER",
    "INTERMEDIATE_SIZE",
    "QUANTIZER_VERSIONS",
    "HubertQuantizer",
    "HubertQuantizerConfig",
    "load_hubert_quantizer",
    "resolve_quantizer_file",
    "save_hubert_quantizer",
]

INFO_MEMBER = ".info"  # the zip member `<archive name>/.info`
INTERMEDIATE_SIZE = 4096  # version 1's extra linear layer (fixed in the published code)
QUANTIZER_VERSIONS = (0, 1)
_INFO_KEYS = ("input_size", "hidden_size", "output_size")


@dataclass(frozen=True)
class HubertQuantizerConfig:
    """Sizes of a quantizer, as its `.info` member stores them.

    Args:
        input_size: HuBERT feature size (768 for HuBERT base). Default 768.
        hidden_size: LSTM hidden size. Default 1024.
        output_size: Semantic vocabulary (Bark's 10_000). Default 10_000.
        version: 0 (LSTM then linear) or 1 (LSTM, linear to 4096, linear). Default 0, the sizes of a file without
            `.info`.
    """

    input_size: int = 768
    hidden_size: int = 1024
    output_size: int = 10_000
    version: int = 0

    def __post_init__(self) -> None:
        if self.version not in QUANTIZER_VERSIONS:
            raise ValueError(f"quantizer version {self.version!r} is not one of {list(QUANTIZER_VERSIONS)}")
        for key in _INFO_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"quantizer {key} must be a positive integer, got {value!r}")

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every state dict key of this quantizer and its shape."""
        gates, hidden = 4 * self.hidden_size, self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {}
        for layer, inputs in enumerate((self.input_size, hidden)):
            shapes |= {
                f"lstm.weight_ih_l{layer}": (gates, inputs),
                f"lstm.weight_hh_l{layer}": (gates, hidden),
                f"lstm.bias_ih_l{layer}": (gates,),
                f"lstm.bias_hh_l{layer}": (gates,),
            }
        last = hidden
        if self.version == 1:
            shapes |= {"intermediate.weight": (INTERMEDIATE_SIZE, hidden), "intermediate.bias": (INTERMEDIATE_SIZE,)}
            last = INTERMEDIATE_SIZE
        return shapes | {"fc.weight": (self.output_size, last), "fc.bias": (self.output_size,)}


class HubertQuantizer(nn.Module):
    """HuBERT features to Bark semantic tokens: LSTM (2 layers), [linear to 4096], linear to the vocabulary, argmax.

    Args:
        config: The sizes; building never reads a file (see `load_hubert_quantizer`).
    """

    def __init__(self, config: HubertQuantizerConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.input_size, config.hidden_size, num_layers=2, batch_first=True)
        self.intermediate = nn.Linear(config.hidden_size, INTERMEDIATE_SIZE) if config.version == 1 else None
        self.fc = nn.Linear(INTERMEDIATE_SIZE if config.version == 1 else config.hidden_size, config.output_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits per frame.

        Args:
            features: `(B, T, input_size)` HuBERT features.

        Returns:
            `(B, T, output_size)` logits (the published model's log-softmax has the same argmax).
        """
        hidden, _ = self.lstm(features)
        if self.intermediate is not None:
            hidden = self.intermediate(hidden)
        return self.fc(hidden)

    @torch.no_grad()
    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """Semantic tokens: `(B, T, input_size)` features to `(B, T)` int64 tokens in `[0, output_size)`."""
        return self(features).argmax(dim=-1)


def _info_members(archive: zipfile.ZipFile) -> list[str]:
    return [name for name in archive.namelist() if name == INFO_MEMBER or name.endswith("/" + INFO_MEMBER)]


def _read_config(path: Path) -> tuple[HubertQuantizerConfig, bool]:
    """The sizes from the `.info` member, or version 0's defaults; and whether the file had a `.info`."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a HuBERT quantizer file: not a PyTorch zip checkpoint (the quantizer files are "
            "torch.save'd state dicts, e.g. quantifier_V1_hubert_base_ls960_23.pth)"
        )
    with zipfile.ZipFile(path) as archive:
        members = _info_members(archive)
        if len(members) > 1:
            raise ValueError(f"{path} holds {len(members)} .info members ({members}): which sizes apply is unclear")
        if not members:
            return HubertQuantizerConfig(), False
        text = archive.read(members[0]).decode("utf-8", errors="replace")
    try:
        info = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: its {members[0]} member is not valid JSON ({error})") from None
    if not isinstance(info, dict) or any(key not in info for key in _INFO_KEYS):
        raise ValueError(f"{path}: its {members[0]} member must be a JSON object with {list(_INFO_KEYS)}, got {text}")
    sizes = {key: info[key] for key in _INFO_KEYS}
    try:
        return HubertQuantizerConfig(**sizes, version=info.get("version", 0)), True
    except ValueError as error:
        raise ValueError(f"{path}: {members[0]}: {error}") from None


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError or others for a refused file
        detail = " ".join(str(error).split())[:160]
        raise ValueError(
            f"{path} was refused: it is not a plain state dict of tensors (torch.load(weights_only=True) says: "
            f"{detail})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a HuBERT quantizer: it holds a {type(state).__name__}, not a state dict")
    return state


def _check_keys(path: Path, state: dict[str, torch.Tensor], config: HubertQuantizerConfig, has_info: bool) -> None:
    expected = config.expected_shapes()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    where = ".info says" if has_info else "it has no .info member, so version 0's sizes apply:"
    if missing or unexpected:
        raise ValueError(
            f"{path} is not a version {config.version} HuBERT quantizer: missing keys {_names(missing)}, "
            f"unexpected keys {_names(unexpected)} ({where} {asdict(config)})"
        )
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape or not tensor.is_floating_point():
            raise ValueError(
                f"{path}: '{key}' is {tensor.dtype} {tuple(tensor.shape)}, expected a float tensor {shape} ({where} "
                f"{asdict(config)})"
            )


def _names(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
    return f"[{shown}]"


def load_hubert_quantizer(path: str | os.PathLike) -> HubertQuantizer:
    """Load a quantizer file strictly: sizes from its `.info` (or version 0's), every key and shape checked.

    Args:
        path: A local `.pth` file in the published format (see the module docstring).

    Returns:
        The quantizer in eval mode, float32, on the CPU.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a zip checkpoint, a malformed `.info`, a pickle that holds more than tensors, or keys or
            shapes that do not match the sizes (all named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HuBERT quantizer file not found: {path}")
    config, has_info = _read_config(path)
    state = _read_state_dict(path)
    _check_keys(path, state, config, has_info)
    model = HubertQuantizer(config)
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return model.eval()


def save_hubert_quantizer(model: HubertQuantizer, path: str | os.PathLike, *, info: bool = True) -> Path:
    """Write `model` as the published files are: `torch.save(state_dict)`, then `<stem>/.info` added to the zip.

    Args:
        model: The quantizer to save.
        path: Destination file (e.g. `quantifier_V1_hubert_base_ls960_23.pth`); its stem names the zip's folder.
        info: Write the `.info` member (the newer files); `False` writes an old-style file, valid only with
            version 0's default sizes.

    Returns:
        The path written.
    """
    path = Path(path)
    if not info and model.config != HubertQuantizerConfig():
        raise ValueError(f"a file without .info must have version 0's default sizes, this one has {model.config}")
    torch.save(model.state_dict(), path)
    if info:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{path.stem}/{INFO_MEMBER}", json.dumps(asdict(model.config)))
    return path


def resolve_quantizer_file(source: str | os.PathLike, default_file: str) -> Path:
    """The local quantizer file that `source` names, downloading it from the hub when it is a hub id.

    Args:
        source: A local file; a local folder (its `default_file`, or its only `.pth` file); a hub id `owner/name`
            (its `default_file`); or `owner/name/FILE` (that file of the repo).
        default_file: The file name to use in a folder or repo (e.g. `quantifier_V1_hubert_base_ls960_23.pth`).

    Raises:
        ModelNotAvailableError: A folder without such a file, a name that is neither a path nor a hub id, or a hub
            file that cannot be had (offline, unreachable or unknown); one line naming it.
    """
    name = os.fspath(source)
    if is_local(name):
        path = Path(name)
        if path.is_file():
            return path
        if (path / default_file).is_file():
            return path / default_file
        found = sorted(path.glob("*.pth"))
        if len(found) == 1:
            return found[0]
        raise ModelNotAvailableError(
            f"HuBERT quantizer folder {path} holds {len(found)} .pth files and no {default_file}: pass the file "
            "itself with --quantizer FILE"
        )
    parts = name.split("/")
    if len(parts) < 2 or not all(parts):
        raise ModelNotAvailableError(
            f"HuBERT quantizer not found: {name} (no such file, and not a hub id owner/name or owner/name/FILE)"
        )
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or default_file
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import HFValidationError

    with explain_unavailable(repo_id, f"HuBERT quantizer file {filename} of", "--quantizer FILE"):
        try:
            return Path(hf_hub_download(repo_id, filename))
        except HFValidationError:
            raise ModelNotAvailableError(f"HuBERT quantizer not found: {name} (not a valid hub id)") from None
