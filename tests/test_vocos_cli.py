"""The model layer's commands: `decode`, `convert` and a tiny smoke run of `bench vocoder` (in-process)."""

import importlib.util
import json

import numpy as np
import pytest
import soundfile
import torch

from bark_vocos.testing import save_tiny_vocos
from pipelines.commands import main


@pytest.fixture(scope="module")
def tiny_original(tmp_path_factory):
    return save_tiny_vocos(tmp_path_factory.mktemp("cli") / "vocos", layout="original", seed=0)


def test_decode_writes_frames_times_320_samples_and_says_random(tiny_original, tmp_path, capsys):
    codes = np.random.default_rng(0).integers(0, 1024, size=(8, 30))
    np.save(tmp_path / "codes.npy", codes)
    out = tmp_path / "out.wav"
    assert main(["decode", str(tmp_path / "codes.npy"), "-o", str(out), "--vocoder", str(tiny_original)]) == 0
    audio, sampling_rate = soundfile.read(out)
    assert sampling_rate == 24000 and audio.shape == (30 * 320,) and np.abs(audio).max() > 0
    printed = capsys.readouterr()
    assert "random weights" in printed.err and "noise" in printed.err and "random" not in printed.out


def test_decode_errors_are_one_line_and_leave_no_file(tiny_original, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.full((8, 5), 2000))
    out = tmp_path / "out.wav"
    assert main(["decode", str(tmp_path / "bad.npy"), "-o", str(out), "--vocoder", str(tiny_original)]) == 1
    assert "bad.npy holds the code 2000; EnCodec codes are integers from 0 to 1023" in capsys.readouterr().err
    np.save(tmp_path / "codes.npy", np.zeros((8, 5), dtype=np.int64))
    args = ["decode", str(tmp_path / "codes.npy"), "-o", str(out), "--vocoder", str(tiny_original), "--bandwidth", "3"]
    assert main(args) == 1
    assert "8 codebooks but bandwidth 3.0 kbps uses 4" in capsys.readouterr().err
    assert not out.exists()


def test_convert_writes_transformers_layout_and_refuses_to_overwrite(tiny_original, tmp_path, capsys):
    destination = tmp_path / "converted"
    assert main(["convert", str(tiny_original), str(destination)]) == 0
    assert (destination / "config.json").is_file() and (destination / "model.safetensors").is_file()
    assert main(["convert", str(tiny_original), str(destination)]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("vocos") is None, reason="needs the original vocos package")
def test_bench_vocoder_smoke_prints_ratios(capsys, tmp_path):
    out = tmp_path / "vocoder.json"
    args = ["bench", "vocoder", "--tiny", "--durations", "0.2", "--repeats", "1", "--threads", "1", "--out", str(out)]
    assert main(args) == 0
    results = json.loads(out.read_text())
    machine = results["machine"]  # what the docs' speed tables name beside each figure
    assert machine["threads"] == 1 and machine["isa"] and machine["cpu"] and machine["date"]
    assert set(machine["versions"]) == {"torch", "onnxruntime", "transformers"}
    (row,) = results["rows"]
    assert row["ours_over_original"] == row["original"] / row["ours"] and row["parity"] <= 1e-4
    printed = capsys.readouterr().out
    assert "ours/orig" in printed and "random weights" in printed
    lines = printed.strip().splitlines()
    assert lines[1].split()[-8:] == ["parity", "MM", "ms", "ceiling", "floor", "ms", "of", "floor"]
    row = lines[2].split()  # audio, 3 x ms, 3 x xRT, ours/orig, ours/EnC, parity, MM ms, ceiling, floor ms, of floor
    assert len(row) == 14 and float(row[9]) <= 1e-4
    assert float(row[10]) > 0 and float(row[11].rstrip("x")) > 0
    # the floor is the products' FLOPs at the measured float32 rate (microseconds for this tiny decoder, printed as
    # 0.0 ms), of floor our time over it: a tiny decoder's time is all overhead, far above its floor
    assert float(row[12]) >= 0 and float(row[13].rstrip("x")) > 1
    assert "float32 on cpu" in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a machine without CUDA")
def test_bench_vocoder_refuses_cuda_without_a_gpu(capsys):
    assert main(["bench", "vocoder", "--tiny", "--device", "cuda"]) == 1
    captured = capsys.readouterr()
    assert "CUDA is not available here" in captured.err and "random weights" not in captured.out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none on this machine")
@pytest.mark.skipif(importlib.util.find_spec("vocos") is None, reason="needs the original vocos package")
def test_bench_vocoder_runs_on_cuda(capsys):
    assert main(["bench", "vocoder", "--tiny", "--durations", "0.2", "--repeats", "1", "--device", "cuda"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "float32 on cuda" in lines[0] and "GPU" in lines[0]
    row = lines[2].split()
    assert float(row[9]) <= 1e-4  # ours against the original Vocos on the GPU, as on the CPU


def test_bench_matrix_products_have_the_decoders_shapes_and_embedding():
    """The floor of `bench vocoder` runs the decoder's products; its embedding product equals the model's conv."""
    import torch.nn.functional as F

    from bark_vocos import VocosEncodecConfig, VocosEncodecModel
    from pipelines.benchmarks.vocoder import conv_as_linear, matrix_products

    torch.manual_seed(0)
    config = VocosEncodecConfig(hidden_size=32, intermediate_size=48, num_layers=2)
    model = VocosEncodecModel(config).eval()
    run = matrix_products(model, frames=20)
    with torch.inference_mode():
        assert run().shape == (1, 20, config.n_fft + 2)
        features = torch.randn(1, config.codebook_dim, 20)
        padded = F.pad(features, (config.padding, config.padding)).transpose(1, 2)  # (1, 20 + 2 * pad, dim)
        windows = padded.unfold(1, config.kernel_size, 1).transpose(2, 3).reshape(1, 20, -1)
        expected = model.embed(features).transpose(1, 2)
        torch.testing.assert_close(conv_as_linear(model.embed)(windows), expected, rtol=1e-5, atol=1e-6)


def test_vocoder_work_counts_every_product_weight_once_per_frame():
    """The vocoder's floor in `bench vocoder` (and `bench pipeline`'s decode stage) counts the weights of the
    embedding convolution, the 2 pointwise layers per block and the head's projection: 2 FLOPs each per frame."""
    from bark_vocos import VocosEncodecConfig, VocosEncodecModel
    from pipelines.benchmarks.roofline import vocoder_work

    config = VocosEncodecConfig(hidden_size=32, intermediate_size=48, num_layers=2)
    model = VocosEncodecModel(config)
    weights = (
        config.codebook_dim * config.hidden_size * config.kernel_size
        + config.num_layers * 2 * config.hidden_size * config.intermediate_size
        + config.hidden_size * (config.n_fft + 2)
    )
    assert vocoder_work(model, frames=20) == (4.0 * weights, 2.0 * weights * 20)


def test_decode_with_encodec_matches_the_pipelines_encodec_decoder(tiny_dir, tmp_path, capsys):
    from pipelines import TextToWavPipeline

    pipe = TextToWavPipeline.from_pretrained(bark=tiny_dir / "bark", vocoder=tiny_dir / "vocos")
    pipe.bark.codec_model.save_pretrained(tmp_path / "encodec")  # Bark's own codec, as a folder
    codes = np.random.default_rng(1).integers(0, 1024, size=(8, 20))
    np.save(tmp_path / "codes.npy", codes)
    both = {}
    for decoder in ("vocos", "encodec"):
        out = tmp_path / f"{decoder}.wav"
        argv = ["decode", str(tmp_path / "codes.npy"), "-o", str(out), "--decoder", decoder]
        argv += ["--vocoder", str(tiny_dir / "vocos"), "--encodec", str(tmp_path / "encodec")]
        assert main(argv) == 0
        assert capsys.readouterr().out.strip().endswith(f"8 codebooks, {decoder})")
        both[decoder], rate = soundfile.read(out, dtype="float32")
        assert rate == 24000 and both[decoder].shape == (20 * 320,)
    expected = pipe.decode(torch.from_numpy(codes), decoder="encodec")
    np.testing.assert_allclose(both["encodec"], expected, rtol=0, atol=1e-6)
    assert not np.allclose(both["encodec"], both["vocos"])  # two decoders, two sounds
