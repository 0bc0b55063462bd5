"""The CUDA paths: every engine generates with half-precision weights on a GPU. Skipped without a CUDA device (this
project's CI machines have none; a GPU session runs them)."""

import json

import numpy as np
import pytest
import torch

from bark_vocos.bark import ENGINES
from pipelines import TextToWavPipeline
from pipelines.commands import main

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


def test_bench_pipeline_runs_on_cuda_in_half_precision(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["bench", "pipeline", "--quick", "--device", "cuda", "--dtype", "float16", "--semantic-tokens", "8"]
    argv += ["--long-form-sentences", "2", "--long-form-tokens", "4", "--repeats", "1", "--out", str(out)]
    assert main(argv) == 0
    results = json.loads(out.read_text())
    assert results["device"].startswith("cuda") and results["dtype"] == "float16"
    assert results["machine"]["gpu"] and "GPU" in results["machine"]["line"]
    for mode in ("exact", "fast"):
        assert all(value > 0 for value in results[mode]["speedup"].values())
        assert all(step["ms"] > 0 for step in results[mode]["decode_step_alone"].values())
    # on a GPU both engines read the half-precision weights, 2 bytes each (no 8-bit layers there)
    exact, fast = results["exact"]["roofline"], results["fast"]["roofline"]
    assert exact["semantic"]["bytes_read"] == fast["semantic"]["bytes_read"]
    assert results["long_form"]["speedup"] > 0


def test_voice_cloner_runs_on_cuda(tiny_dir, tmp_path):
    """The cloner's models on the GPU: the same shapes as on the CPU, tokens and codes in range (random weights)."""
    from bark_vocos.testing import save_tiny_encodec, save_tiny_hubert, save_tiny_quantizer
    from pipelines import VoiceCloner

    models = {
        "hubert": save_tiny_hubert(tmp_path / "hubert"),
        "quantizer": save_tiny_quantizer(tmp_path / "q.pth"),
        "encodec": save_tiny_encodec(tmp_path / "encodec"),
        "bark": tiny_dir / "bark",
    }
    t = np.arange(6 * 16_000) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 160 * t) * (np.sin(2 * np.pi * 3 * t) > -0.5)).astype(np.float32)
    on_gpu = VoiceCloner.from_pretrained(**models, device="cuda")(audio, 16_000)
    on_cpu = VoiceCloner.from_pretrained(**models)(audio, 16_000)
    assert on_gpu.window == on_cpu.window
    for key, array in on_cpu.as_preset().items():
        assert on_gpu.as_preset()[key].shape == array.shape and on_gpu.as_preset()[key].dtype == np.int64
    assert on_gpu.semantic_prompt.max() < 64 and on_gpu.fine_prompt.max() < 1024
