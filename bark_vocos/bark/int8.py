"""int8 linear layers for the `fast` engine: weights quantised once per output channel, activations per call.

`Int8Linear(layer)` holds an int8 copy of an `nn.Linear` (the layer itself is not modified) and computes
`layer(x)` approximately: the weight is rounded to int8 per output channel (symmetric), the input is rounded to 7-bit
unsigned integers per call (one scale and zero point for the whole input, from its minimum and maximum), the product
is accumulated in int32 and scaled back to float32.

Two kernels compute it, and which one is faster depends on the CPU, so the first call for a shape times both on the
real input and the faster one serves that shape from then on (`bark_vocos.choices`;
`BARK_VOCOS_INT8_KERNEL=fbgemm|onednn` forces one). A layer packs the weight of the kernels it is known to run when
it is made (the pinned one, or those the tuning record chose for its shape; every kernel when nothing is known) and
any other on first use, so a kernel a layer never runs costs neither time nor memory:

- `"fbgemm"`: `torch.ops.quantized.linear_dynamic` on a weight prepacked by `torch.ops.quantized.linear_prepack`,
  the kernel behind `torch.ao.quantization.quantize_dynamic`, called directly. Packing needs a `torch.qint8`
  tensor, which torch 2.13 marks deprecated (pytorch/pytorch#184982), so this kernel is offered only while torch
  has it.
- `"onednn"`: `torch.ops.onednn.qlinear_pointwise` (the op Inductor's x86 int8 path lowers to), on plain int8 and
  uint8 tensors.

Activations use 7 bits in both (`reduce_range` in fbgemm's terms): without AVX-512 VNNI the int8 product instruction
(`vpmaddubsw`) adds pairs into int16 and saturates with 8-bit activations. Which kernel is faster is measured per
machine (`int8_kernel`); the alternatives rejected are in docs/design-notes.md.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import CHOICES, Int8Key
from ..kernels import COMPUTE_BOUND_ROWS, caller_choice, rows_bucket, timing_rows
from ..residency import release_file_pages
from ..settings import settings
from .rounding import RoundedWeights

__all__ = ["INT8_KERNELS", "Int8Linear", "int8_kernel", "int8_kernels_available", "packed_together"]

INT8_KERNELS = CHOICES["int8"]  # `Int8Key` -> "fbgemm" or "onednn"
_CALLER_KERNEL: ContextVar[str | None] = ContextVar("bark_vocos_int8_kernel", default=None)
_PACKED_LATER: ContextVar[list[Int8Linear] | None] = ContextVar("bark_vocos_int8_packed_later", default=None)
ACTIVATION_LEVELS = 127  # 7-bit activations (see the module docstring)


def int8_kernels_available() -> list[str]:
    """The int8 kernels this torch build offers, in the order they are tried."""
    kernels = []
    if "fbgemm" in torch.backends.quantized.supported_engines and hasattr(torch.ops.quantized, "linear_dynamic"):
        kernels.append("fbgemm")
    if torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qlinear_pointwise"):
        kernels.append("onednn")
    return kernels


def int8_kernel(name: str) -> AbstractContextManager[None]:
    """Inside the block, every `Int8Linear` runs kernel `name` instead of choosing per layer: for a caller that times
    whole decode steps (`bark_vocos.bark.decoder`), as `bark_vocos.kernels.linear_kernel` does for float32 layers."""
    return caller_choice(_CALLER_KERNEL, name, tuple(int8_kernels_available()), "int8")


@contextmanager
def packed_together() -> Iterator[None]:
    """`Int8Linear` layers made inside the block pack their weights when it ends, all at once on
    `torch.get_num_threads()` threads, instead of each on one thread as it is made.

    Why: packing is most of the fast engine's load and fbgemm's and oneDNN's packing run without the GIL (bark-small's
    145 layers on 2 threads: about half the time). Nothing is packed when the block raises.
    """
    layers: list[Int8Linear] = []
    token = _PACKED_LATER.set(layers)
    try:
        yield
    finally:
        _PACKED_LATER.reset(token)
    jobs = [(layer, layer._expected_kernels()) for layer in layers]  # read the settings here, not in the threads
    with ThreadPoolExecutor(max(1, torch.get_num_threads()), thread_name_prefix="bark_vocos_pack") as pool:
        for done in [pool.submit(layer._pack, kernels) for layer, kernels in jobs]:
            done.result()


def _fbgemm_pack(weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> object:
    """fbgemm's packed weight for int8 `weight` `(out, in)` with per-row `scale` `(out,)`."""
    zero = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # torch.qint8 tensors are deprecated; the module docstring says what follows
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch._make_per_channel_quantized_tensor(weight, scale.double(), zero, 0)
    return torch.ops.quantized.linear_prepack(quantized, bias)


class Int8Linear(nn.Module):
    """An int8 copy of `layer` (see the module docstring); `forward(x)`: `(..., in)` -> `(..., out)`, in x's dtype.

    Args:
        layer: A float32 `nn.Linear` on the CPU; it is read, not modified.
        rounded: where its int8 codes come from (`bark_vocos.bark.rounding`: a disk cache); None: rounded here.
    """

    def __init__(self, layer: nn.Linear, rounded: RoundedWeights | None = None):
        super().__init__()
        kernels = int8_kernels_available()
        if not kernels:
            raise RuntimeError("this torch build has no int8 linear kernel (neither fbgemm nor oneDNN)")
        if layer.weight.device.type != "cpu":
            raise ValueError(f"int8 layers run on the CPU, the layer is on {layer.weight.device}")
        codes, scale = (rounded or RoundedWeights()).rows(layer.weight)
        # from the weight, not the layer's attributes: a tied head (Bark's fine model) may hold a larger weight
        self.out_features, self.in_features = codes.shape
        self.register_buffer("weight", codes)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if layer.bias is None else layer.bias.detach().float().clone())
        self.zero_points = torch.zeros(self.out_features, dtype=torch.long)
        # each kernel's packed weight: those the layer is known to run packed here, any other on its first use
        # (`_packed`), so a kernel the layer never runs costs neither the packing time nor its memory
        self.packed: dict[str, object] = {}
        methods = {"fbgemm": self._fbgemm, "onednn": self._onednn}
        self.kernels = {name: methods[name] for name in kernels}  # in `kernels`' order
        later = _PACKED_LATER.get()
        if later is None:
            self._pack(self._expected_kernels())
        else:
            later.append(self)

    def _pack(self, kernels: list[str]) -> None:
        """Pack `kernels`' weights now (not in the first call)."""
        for name in kernels:
            self._packed(name)
        release_file_pages([self.weight])  # codes read from the disk cache are kept only to pack another kernel later

    def _expected_kernels(self) -> list[str]:
        """The kernels this layer will run as far as is known now: the pinned one, else those the kept choices
        (`INT8_KERNELS`, e.g. from the tuning record) name for this layer's shape at this thread count, else every
        kernel (each is timed on first use)."""
        pinned = settings().pin(INT8_KERNELS.variable)
        if pinned in self.kernels:
            return [pinned]
        threads = torch.get_num_threads()
        kept = {
            choice
            for key, choice in INT8_KERNELS.choices.items()
            if (key.in_features, key.out_features, key.threads) == (self.in_features, self.out_features, threads)
        }
        return [name for name in self.kernels if name in kept] or list(self.kernels)

    def _packed(self, name: str) -> object:
        """Kernel `name`'s packed weight, packed now if this is its first use."""
        if name not in self.packed:
            if name == "fbgemm":
                self.packed[name] = _fbgemm_pack(self.weight, self.scale, self.bias)
            else:
                self.packed[name] = torch.ops.onednn.qlinear_prepack(self.weight, None)
        return self.packed[name]

    def _fbgemm(self, rows: torch.Tensor, gelu: bool) -> torch.Tensor:
        out = torch.ops.quantized.linear_dynamic(rows, self._packed("fbgemm"), True)
        return F.gelu(out) if gelu else out

    def _onednn(self, rows: torch.Tensor, gelu: bool) -> torch.Tensor:
        low, high = torch.aminmax(rows)
        low, high = low.clamp(max=0), high.clamp(min=0)
        step = torch.where(high > low, (high - low) / ACTIVATION_LEVELS, torch.ones_like(high))
        zero = torch.round(-low / step).to(torch.int64)
        scaled = rows / step
        quantized = scaled.round_().add_(zero).clamp_(0, ACTIVATION_LEVELS).to(torch.uint8)
        post_op = ("gelu", [], "none") if gelu else ("none", [], "")  # "none": the exact (erf) GELU, fused
        return torch.ops.onednn.qlinear_pointwise.tensor(
            quantized, step, zero, self._packed("onednn"), self.scale, self.zero_points, self.bias,
            1.0, 0, torch.float32, *post_op,
        )  # fmt: skip

    def forward(self, hidden_states: torch.Tensor, gelu: bool = False) -> torch.Tensor:
        """`layer(hidden_states)` in int8, then the exact GELU when `gelu` (fused into oneDNN's product):
        `(..., in)` -> `(..., out)`, in the input's dtype."""
        rows = hidden_states.reshape(-1, self.in_features).float().contiguous()
        chosen = _CALLER_KERNEL.get()
        if chosen is None:
            key = Int8Key(
                rows_bucket(rows.shape[0]), self.in_features, self.out_features, gelu, torch.get_num_threads()
            )

            def candidates(inputs: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
                return {name: functools.partial(kernel, inputs, gelu) for name, kernel in self.kernels.items()}

            cold = rows.shape[0] < COMPUTE_BOUND_ROWS
            chosen = INT8_KERNELS.choose(key, candidates(rows), cold=cold, timed=lambda: candidates(timing_rows(rows)))
        out = self.kernels[chosen](rows, gelu)
        return out.reshape(*hidden_states.shape[:-1], self.out_features).to(hidden_states.dtype)
