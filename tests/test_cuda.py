"""The CUDA paths: every engine generates with half-precision weights on a GPU. Skipped without a CUDA device (this
project's CI machines have none; a GPU session runs them)."""

import numpy as np
import pytest
import torch

from bark_vocos.bark import ENGINES
from pipelines import TextToWavPipeline

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_every_engine_generates_on_cuda_in_half_precision(tiny_dir, engine, dtype):
    pipe = TextToWavPipeline.from_pretrained(
        tiny_dir / "bark", tiny_dir / "vocos", device="cuda", dtype=dtype, engine=engine
    )
    first = pipe("Hello there.", voice_preset="v2/en_speaker_0", seed=0, progress=False)
    again = pipe("Hello there.", voice_preset="v2/en_speaker_0", seed=0, progress=False)
    assert first.audio.dtype == np.float32 and first.audio.ndim == 1 and first.audio.shape[0] % 320 == 0
    assert np.isfinite(first.audio).all()
    assert first.audio.shape == again.audio.shape  # same seed, same length


def test_exact_engine_matches_transformers_on_cuda_in_float32(tiny_dir):
    outputs = {}
    for engine in ("transformers", "exact"):
        pipe = TextToWavPipeline.from_pretrained(tiny_dir / "bark", tiny_dir / "vocos", device="cuda", engine=engine)
        outputs[engine] = pipe("Hello there.", voice_preset="v2/en_speaker_0", seed=0, do_sample=False, progress=False)
    assert outputs["exact"].audio.shape == outputs["transformers"].audio.shape
    np.testing.assert_allclose(outputs["exact"].audio, outputs["transformers"].audio, atol=1e-3)
