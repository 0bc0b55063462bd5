"""Builds the original Vocos (gemelo-ai/vocos 0.1.0) for parity tests and the speed benchmark, fully offline.

Two things stand in the way of using the original package here, and both are worked around in this module only:

- `vocos` imports `torchaudio` at import time (`heads.py` takes `_hz_to_mel`/`_mel_to_hz` for the IMDCT heads,
  `feature_extractors.py` for the mel features), and torchaudio has no build for the torch used here. None of
  those names is used by the EnCodec feature extractor, the ConvNeXt backbone or the ISTFT head, so when
  torchaudio is missing a stand-in module is registered that provides the import-time names and raises if called.
- `EncodecFeatures` downloads the EnCodec weights in its constructor (`pretrained=True`); it is built with
  `pretrained=False` (random weights) instead, and every weight is then replaced from a state dict anyway.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml

__all__ = ["build_original_vocos", "import_original_vocos", "original_config_yaml"]


def _missing_torchaudio(*args, **kwargs):
    raise RuntimeError("torchaudio is not installed: this stand-in only satisfies vocos' import-time names")


def import_original_vocos():
    """Imports and returns the original `vocos` package (0.1.0), with the torchaudio stand-in if needed.

    Raises:
        ImportError: If `vocos` or `encodec` is not installed (`pip install --no-deps vocos==0.1.0 encodec==0.1.1`).
    """
    if "vocos" in sys.modules or importlib.util.find_spec("torchaudio") is not None:
        import vocos

        return vocos
    functional_functional = types.ModuleType("torchaudio.functional.functional")
    functional_functional._hz_to_mel = _missing_torchaudio
    functional_functional._mel_to_hz = _missing_torchaudio
    functional = types.ModuleType("torchaudio.functional")
    functional.functional = functional_functional
    transforms = types.ModuleType("torchaudio.transforms")
    transforms.MelSpectrogram = transforms.Spectrogram = _missing_torchaudio
    stand_in = types.ModuleType("torchaudio")
    stand_in.functional, stand_in.transforms = functional, transforms
    stand_ins = {
        "torchaudio": stand_in,
        "torchaudio.functional": functional,
        "torchaudio.functional.functional": functional_functional,
        "torchaudio.transforms": transforms,
    }
    sys.modules.update(stand_ins)
    try:
        import vocos
    finally:
        # vocos has bound the names it needs; nothing else should ever see a fake torchaudio.
        for name in stand_ins:
            sys.modules.pop(name, None)
    return vocos


@contextlib.contextmanager
def _encodec_without_download() -> Iterator[None]:
    """Within the block, `encodec.EncodecModel.encodec_model_24khz` builds random weights instead of downloading."""
    from encodec import EncodecModel

    original = EncodecModel.encodec_model_24khz

    def build(pretrained: bool = True, repository: Path | None = None):
        return original(pretrained=False)

    EncodecModel.encodec_model_24khz = staticmethod(build)
    try:
        yield
    finally:
        EncodecModel.encodec_model_24khz = staticmethod(original)


def original_config_yaml(
    *,
    dim: int = 384,
    intermediate_dim: int = 1152,
    num_layers: int = 8,
    n_fft: int = 1280,
    hop_length: int = 320,
    input_channels: int = 128,
    bandwidths: tuple[float, ...] = (1.5, 3.0, 6.0, 12.0),
) -> dict:
    """An original-layout `config.yaml` (class_path/init_args) as a dict; defaults are charactr/vocos-encodec-24khz."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.EncodecFeatures",
            "init_args": {"encodec_model": "encodec_24khz", "bandwidths": list(bandwidths), "train_codebooks": False},
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {
                "input_channels": input_channels,
                "dim": dim,
                "intermediate_dim": intermediate_dim,
                "num_layers": num_layers,
                "adanorm_num_embeddings": len(bandwidths),
            },
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": dim, "n_fft": n_fft, "hop_length": hop_length, "padding": "same"},
        },
    }


def build_original_vocos(config: dict, seed: int = 0, scale: float = 0.1) -> torch.nn.Module:
    """The original `vocos.Vocos` built from a config.yaml dict, every vocoder tensor drawn at random under `seed`.

    Weights are `scale * N(0, 1)` (norm scales `1 + scale * N(0, 1)`, codebooks `N(0, 1)`), the ISTFT window
    stays Hann: random weights, so the audio is noise, not speech.
    """
    vocos = import_original_vocos()
    with _encodec_without_download(), _temporary_yaml(config) as path:
        model = vocos.Vocos.from_hparams(os.fspath(path))
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("feature_extractor.encodec.") or key.endswith("istft.window"):
            state[key] = tensor
        elif key == "feature_extractor.codebook_weights":
            state[key] = torch.randn(tensor.shape, generator=generator)
        elif key.endswith("scale.weight") or key.endswith("final_layer_norm.weight"):
            state[key] = 1 + scale * torch.randn(tensor.shape, generator=generator)
        else:
            state[key] = scale * torch.randn(tensor.shape, generator=generator)
    model.load_state_dict(state)
    return model.eval()


@contextlib.contextmanager
def _temporary_yaml(config: dict) -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        yield path
