"""`bark-vocos bench vocoder`: our Vocos decoder vs the original Vocos code and transformers' EnCodec decoder.

All three run in this one process on identical inputs, full-size random weights (Vocos: dim 384, 8 layers,
intermediate 1152, n_fft 1280, hop 320; the original gets exactly our weights; EnCodec: the default 24 kHz config),
8 codebooks (6 kbps, what Bark emits). Each timing is the best of `--repeats` runs after one warm-up, the three
decoders taking turns so that background load hits them alike. Printed: milliseconds, x-real-time, and the
speed ratios, plus our audio's max difference to the original's (relative to its peak). Random weights: the
audio is noise, only the timing and the parity mean something.

It also times the decoder's matrix products alone (`matrix_products`): the work every exact float32 decoder must
do whatever else it fuses or skips. The original's time over theirs is the ceiling of `ours/orig` on this machine.
And it prints our decoder's compute floor, the compute part of `bench pipeline`'s decode-stage floor
(`pipelines.benchmarks.roofline.vocoder_work`; reading the weights takes a small fraction of it): the FLOPs of
those products at the machine's measured float32 matrix-product rate (`measure_matmul_flops`), and our time over it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
import yaml
from torch import nn

from bark_vocos import VocosEncodecModel
from bark_vocos.kernels import linear
from bark_vocos.vocos.reference import build_original_vocos, original_config_yaml

from ..io.files import atomic_output, check_writable
from ..speech.devices import resolve_device
from .machine import bench_metadata, describe_machine, measure_matmul_flops, synchronizer, timed_seconds
from .roofline import vocoder_work

__all__ = ["benchmark", "conv_as_linear", "matrix_products", "run"]


def conv_as_linear(conv: nn.Conv1d) -> nn.Linear:
    """The same weights as a linear layer over unfolded windows: `(..., kernel * in)` tap-major -> `(..., out)`.

    Window `t` of a `(B, T + kernel - 1, in)` padded input is its rows `t .. t + kernel - 1`, flattened.
    """
    out_channels, in_channels, kernel_size = conv.weight.shape
    layer = nn.Linear(kernel_size * in_channels, out_channels)
    with torch.no_grad():  # (out, in, kernel) -> (out, kernel, in) -> (out, kernel * in)
        layer.weight.copy_(conv.weight.permute(0, 2, 1).reshape(out_channels, -1))
        layer.bias.copy_(conv.bias)
    return layer


def matrix_products(model: VocosEncodecModel, frames: int) -> Callable[[], torch.Tensor]:
    """A function running `model`'s matrix products alone for `frames` frames (batch 1), chained as in a decode.

    The embedding convolution as one product over unfolded windows, `(1, frames, kernel * codebook_dim)` @
    `(kernel * codebook_dim, hidden)`; per ConvNeXt block the two pointwise layers (the first with its GELU, fused
    or not as our decode chooses); the head's projection to `n_fft + 2`. Same shapes, weights and FLOPs as a decode,
    through the same `linear` (prepacked weights, measured kernel choice) our model uses, and nothing else: no
    depthwise convolution, norm, residual, exp/cos/sin, FFT or overlap-add. No exact float32 decoder can be faster
    than this on the same matrix code.
    """
    device = model.embed.weight.device
    embed_as_linear = conv_as_linear(model.embed).to(device)
    windows = torch.randn(1, frames, embed_as_linear.in_features, device=device)

    def run() -> torch.Tensor:
        hidden_states = linear(windows, embed_as_linear, prepack=True)
        for layer in model.layers:
            hidden_states = linear(hidden_states, layer.pwconv1, gelu=True, prepack=True)
            hidden_states = linear(hidden_states, layer.pwconv2, prepack=True)
        return linear(hidden_states, model.decoder.out, prepack=True)

    return run


def benchmark(
    durations, repeats: int = 5, seed: int = 0, tiny: bool = False, device: torch.device | None = None
) -> list[dict]:
    """Times the three decoders and our matrix products alone, in float32 on `device` (the CPU if None); one row per
    duration (seconds per run, parity, and `floor`: our products' FLOPs at the measured float32 rate)."""
    from transformers import EncodecConfig, EncodecModel

    sizes = dict(dim=32, intermediate_dim=48, num_layers=1) if tiny else {}
    config = original_config_yaml(**sizes)
    original = build_original_vocos(config, seed=seed, scale=0.02)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        state = {k: v for k, v in original.state_dict().items() if not k.startswith("feature_extractor.encodec.")}
        torch.save(state, Path(folder) / "pytorch_model.bin")
        ours = VocosEncodecModel.from_pretrained(folder).eval()
    torch.manual_seed(seed)
    encodec_config = EncodecConfig(hidden_size=16, num_filters=4, num_lstm_layers=1) if tiny else EncodecConfig()
    encodec = EncodecModel(encodec_config).eval()
    device = device or torch.device("cpu")
    sync = synchronizer(device)
    original, ours, encodec = original.to(device), ours.to(device), encodec.to(device)
    peak = measure_matmul_flops(device=device)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for seconds in durations:
        frames = max(1, round(seconds * 75))
        codes = torch.randint(0, 1024, (8, 1, frames), generator=generator).to(device)
        bandwidth_id = torch.tensor([2], device=device)  # 6 kbps

        def run_ours(codes=codes):
            return ours(codes=codes).audio

        def run_original(codes=codes, bandwidth_id=bandwidth_id):
            return original.decode(original.codes_to_features(codes), bandwidth_id=bandwidth_id)

        def run_encodec(codes=codes):
            return encodec.decode(codes.transpose(0, 1)[None], [None]).audio_values

        run_products = matrix_products(ours, frames)

        with torch.inference_mode():
            reference = run_original()
            error = float((run_ours() - reference).abs().max() / reference.abs().max())
            run_encodec()
            run_products()
            functions = {"ours": run_ours, "original": run_original, "encodec": run_encodec, "products": run_products}
            times = dict.fromkeys(functions, float("inf"))
            for _ in range(repeats):
                for name, function in functions.items():
                    times[name] = min(times[name], timed_seconds(function, sync))
        audio_seconds = frames * 320 / 24000
        rows.append({"seconds": audio_seconds, "parity": error, "floor": vocoder_work(ours, frames)[1] / peak, **times})
    return rows


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1 or args.threads < 1 or min(args.durations) <= 0:
        raise ValueError("--repeats and --threads must be >= 1 and --durations > 0")
    device = resolve_device(args.device)
    if args.out is not None:
        check_writable(args.out)  # before the timing, not after
    torch.set_num_threads(args.threads)
    machine = describe_machine()
    print(f"bark-vocos bench vocoder: best of {args.repeats}, random weights, float32 on {device}; {machine}")
    rows = benchmark(args.durations, repeats=args.repeats, seed=args.seed, tiny=args.tiny, device=device)
    header = (
        f"{'audio':>7} {'ours ms':>9} {'orig ms':>9} {'EnCodec ms':>10} {'ours xRT':>9} {'orig xRT':>9} "
        f"{'EnC xRT':>8} {'ours/orig':>10} {'ours/EnC':>9} {'parity':>8} {'MM ms':>7} {'ceiling':>8} "
        f"{'floor ms':>8} {'of floor':>8}"
    )
    print(header)
    for row in rows:
        ours, original, encodec, seconds = row["ours"], row["original"], row["encodec"], row["seconds"]
        print(
            f"{seconds:6.2f}s {ours * 1e3:9.1f} {original * 1e3:9.1f} {encodec * 1e3:10.1f} {seconds / ours:9.1f} "
            f"{seconds / original:9.1f} {seconds / encodec:8.1f} {original / ours:9.2f}x {encodec / ours:8.2f}x "
            f"{row['parity']:8.1e} {row['products'] * 1e3:7.1f} {original / row['products']:7.2f}x "
            f"{row['floor'] * 1e3:8.1f} {ours / row['floor']:7.2f}x"
        )
    print("ours/orig and ours/EnC: how many times faster our decoder is; parity: max |ours - orig| / max |orig|")
    print("MM ms: our matrix products alone (no conv, norm, FFT...); ceiling: orig ms / MM ms, the most an exact")
    print("float32 decoder on these matrix routines (near the CPU's float32 peak) can gain over the original here")
    print(
        "floor ms: those products' FLOPs at this machine's measured float32 matrix-product rate; of floor: ours over it"
    )
    if args.out is not None:
        results = {
            "machine": bench_metadata(),
            "note": "random weights: timings and parity only, the audio is noise",
            "device": str(device),
            "repeats": args.repeats,
            "tiny": args.tiny,
            "rows": [{**row, "ours_over_original": row["original"] / row["ours"],
                      "ours_over_encodec": row["encodec"] / row["ours"]} for row in rows],
        }  # fmt: skip
        with atomic_output(args.out) as tmp:
            tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0
