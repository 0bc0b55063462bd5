"""A `pytorch_model.bin` in PyTorch's older non-zip format loads (torch.load(weights_only=True) reads it safely)."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file

from bark_vocos import VocosEncodecModel
from bark_vocos.errors import ModelNotAvailableError
from bark_vocos.hub import check_model_source


def test_a_legacy_bin_loads_with_the_same_weights(tiny_dir, tmp_path):
    legacy = shutil.copytree(tiny_dir / "vocos", tmp_path / "legacy")
    state = load_file(legacy / "model.safetensors")
    (legacy / "model.safetensors").unlink()
    torch.save(state, legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    check_model_source(str(legacy), "Vocos vocoder", "--vocoder PATH")  # no "damaged or cut short"
    codes = torch.randint(0, 1024, (8, 12), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ours = VocosEncodecModel.from_pretrained(legacy).eval()(codes=codes).audio
        reference = VocosEncodecModel.from_pretrained(tiny_dir / "vocos").eval()(codes=codes).audio
    assert torch.equal(ours, reference)


def test_a_bin_that_is_neither_format_is_still_refused(tiny_dir, tmp_path):
    broken = shutil.copytree(tiny_dir / "vocos", tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    (broken / "pytorch_model.bin").write_bytes(b"\x80\x02not a checkpoint")
    with pytest.raises(ModelNotAvailableError, match="neither a complete PyTorch zip archive nor PyTorch's older"):
        check_model_source(str(broken), "Vocos vocoder", "--vocoder PATH")
