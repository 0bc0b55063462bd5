"""Kernel choice by measurement: of several implementations that compute the same thing, use the one that runs
fastest on this machine, timed once per shape (`bark_vocos.timing`) and kept in the registry of measured choices
(`bark_vocos.choices`).

CPUs differ: which of oneDNN's fused linear and MKL's `addmm` is faster depends on the CPU, its ISA and the shape
(MKL's float32 products for a batch of a few rows are much slower than for one row on some AVX2 CPUs). Instead of
assuming either, `fastest` times the candidates on the real inputs (interleaved, after a warm-up, fastest of up to five
runs) the first time a shape is seen. Figures: docs/speed.md and docs/design-notes.md.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from .choices import CHOICES, LinearKey

__all__ = [
    "COMPUTE_BOUND_ROWS",
    "FORCE_VARIABLE",
    "LARGE_ROWS",
    "LINEAR_KERNELS",
    "caller_choice",
    "derived_weight",
    "linear",
    "linear_kernel",
    "linear_kernel_names",
    "rows_bucket",
    "timing_rows",
]

# Set to a candidate's name to use it wherever it is a candidate, without timing (for benchmarks and bug reports).
FORCE_VARIABLE = "BARK_VOCOS_KERNEL"


# From this many rows on a linear layer is bound by compute, not by reading its weights (float32: 2 * rows FLOPs per
# 4-byte weight against a machine balance of about 10 FLOP/byte on today's CPUs; int8 likewise at its higher rate),
# so the state of the caches before a timed run does not change the answer and its choice is timed
# without `timing.evict_caches`: for a batch's prompts and fine windows that read was most of the time a choice took.
COMPUTE_BOUND_ROWS = 64
# From this many rows on every candidate runs at its compute-bound rate, so one choice serves all larger row counts: a
# batch's prompts (8 sentences: 2000-7000 rows) reuse the choice made for one sentence's instead of timing products
# that take tens of milliseconds each.
LARGE_ROWS = 512


def rows_bucket(rows: int) -> int:
    """The key under which a product over `rows` rows shares its kernel choice: rows of one power of two share one,
    and from `LARGE_ROWS` rows on all share one."""
    return min(rows, LARGE_ROWS).bit_length()


def timing_rows(rows: torch.Tensor) -> torch.Tensor:
    """The rows `(n, in)` a product's kernel choice is timed on: all of them up to `LARGE_ROWS`, else the first
    `LARGE_ROWS`, a view. Every count from `LARGE_ROWS` on shares one choice (`rows_bucket`), each candidate at its
    compute-bound rate, so the slice orders them as the whole would, for a fraction of the time."""
    return rows[:LARGE_ROWS]


def _onednn_linear_available() -> bool:
    """Whether torch was built with oneDNN's fused linear op (`torch.ops.mkldnn._linear_pointwise`)."""
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


_ONEDNN_LINEAR = _onednn_linear_available()
# oneDNN's reorder of a linear weight into its own blocked layout, which `_linear_pointwise` then reads as it is.
_ONEDNN_PACKED_LINEAR = _ONEDNN_LINEAR and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")

# Per module and name: (the weight it was derived from, detached, holding its storage; that weight's version; the
# derived tensor). Outside the modules so that their state, copies and pickles stay what they were.
_DERIVED: weakref.WeakKeyDictionary[nn.Module, dict[str, tuple[torch.Tensor, int, torch.Tensor]]] = (
    weakref.WeakKeyDictionary()
)


def derived_weight(module: nn.Module, name: str, make: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`make(module.weight)`, made once and kept per module and `name` until the weight changes.

    For a kernel that wants the weight in another layout (oneDNN's blocked linear weight, a channels-last convolution
    weight): given the plain weight, it copies it into that layout on every call. The kept tensor is remade when the
    weight is written in place (its version counter moves: `load_state_dict`, an optimizer step) or replaced (`.to()`,
    a new `Parameter`: another storage; the old one is held with the entry, so its address cannot come back). A weight
    made under `torch.inference_mode()` has no version counter: it is not kept, `make` runs on every call. The kept
    tensor is made without autograd: for inference only, gradients do not flow through it to the weight.
    """
    weight = module.weight
    if weight.is_inference():
        return make(weight)
    entries = _DERIVED.setdefault(module, {})
    entry = entries.get(name)
    if entry is not None and entry[0].data_ptr() == weight.data_ptr() and entry[1] == weight._version:
        return entry[2]
    # Made outside inference mode: a tensor made under it could not take part in a later call with autograd on.
    with torch.inference_mode(False), torch.no_grad():
        derived = make(weight.detach())
    entries[name] = (weight.detach(), weight._version, derived)
    return derived


LINEAR_KERNELS = CHOICES["linear"]  # `LinearKey` -> "onednn", "aten" or "onednn_aten_gelu"
_CALLER_KERNEL: ContextVar[str | None] = ContextVar("bark_vocos_linear_kernel", default=None)


def linear_kernel_names() -> tuple[str, ...]:
    """The float32 linear kernels `linear` can use on this torch build."""
    return ("onednn", "aten") if _ONEDNN_LINEAR else ("aten",)


@contextmanager
def caller_choice(choice: ContextVar[str | None], name: str, names: tuple[str, ...], kind: str) -> Iterator[None]:
    """Inside the block, `choice` holds `name`, one of `names` (the `kind` kernels): the layers that read it run that
    kernel instead of choosing per layer.

    Raises:
        ValueError: `name` is not one of `names`.
    """
    if name not in names:
        raise ValueError(f"unknown {kind} kernel {name!r}: use one of {', '.join(names)}")
    token = choice.set(name)
    try:
        yield
    finally:
        choice.reset(token)


def linear_kernel(name: str) -> AbstractContextManager[None]:
    """Inside the block, `linear` runs every eligible layer with kernel `name` instead of choosing per layer.

    For a caller that times whole steps: a one-row layer takes a fraction of a millisecond, too little to time
    reliably on its own, while a whole decode step over all layers takes tens of milliseconds.
    """
    return caller_choice(_CALLER_KERNEL, name, linear_kernel_names(), "linear")


def _onednn_packed_weight(layer: nn.Linear) -> torch.Tensor:
    """`layer.weight` in oneDNN's blocked layout for its linear (no row count given: one layout for every shape)."""
    return derived_weight(layer, "onednn_linear", torch.ops.mkldnn._reorder_linear_weight)


def _onednn_linear(
    hidden_states: torch.Tensor, layer: nn.Linear, gelu: bool, prepack: bool = False, fused_gelu: bool = True
) -> torch.Tensor:
    weight = _onednn_packed_weight(layer) if prepack and _ONEDNN_PACKED_LINEAR else layer.weight
    if gelu and fused_gelu:
        return torch.ops.mkldnn._linear_pointwise(hidden_states, weight, layer.bias, "gelu", [None], "none")
    output = torch.ops.mkldnn._linear_pointwise(hidden_states, weight, layer.bias, "none", [], "")
    return torch.ops.aten.gelu_(output) if gelu else output


def _aten_linear(hidden_states: torch.Tensor, layer: nn.Linear, gelu: bool, inplace: bool = False) -> torch.Tensor:
    hidden_states = F.linear(hidden_states, layer.weight, layer.bias)
    if not gelu:
        return hidden_states
    # In place when autograd is off: one output buffer, as oneDNN's fused GELU has, instead of a second one to
    # allocate (and, fresh from the system, to fault in page by page) on every call.
    return torch.ops.aten.gelu_(hidden_states) if inplace else F.gelu(hidden_states)


def linear(hidden_states: torch.Tensor, layer: nn.Linear, gelu: bool = False, prepack: bool = False) -> torch.Tensor:
    """`layer(hidden_states)`, followed by the exact (erf) GELU when `gelu`: (..., in) -> (..., out).

    On CPU, for inference in float32, two kernels compute this: oneDNN's fused linear (the GELU in the same pass) and
    ATen's `F.linear` (MKL `addmm`) + `F.gelu`. Which is faster depends on the CPU and the shape, so the
    first call for a shape times both on the real inputs and the faster one serves that shape from then on
    (`BARK_VOCOS_KERNEL=onednn|aten` forces one; inside `linear_kernel(name)` the caller's choice applies). Bark's
    stages (`bark_vocos.bark.decoder`) call it too: their decode steps choose for all layers at once, by timing whole
    steps; prompts and the fine stage's 1024-frame windows choose per layer. Same products and sums; every other case
    (autograd, CUDA, half precision, a torch without oneDNN) takes ATen.

    With `prepack`, oneDNN's candidate reads a copy of the weight in oneDNN's own blocked layout, made on first use and
    kept while the weight is unchanged (`derived_weight`), instead of reordering the weight on every call: about 5%
    faster at the vocoder's 750 x 384 x 1152 products, for a second copy of the weights in memory (the vocoder's
    13 MB; not for Bark's stages, whose weights are hundreds of MB).
    """
    eligible = (
        _ONEDNN_LINEAR
        and hidden_states.device.type == "cpu"
        and hidden_states.dtype == torch.float32
        and layer.weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (hidden_states.requires_grad or layer.weight.requires_grad))
    )
    if not eligible:
        return _aten_linear(hidden_states, layer, gelu)

    def candidates(inputs: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
        named = {
            "onednn": lambda: _onednn_linear(inputs, layer, gelu, prepack),
            "aten": lambda: _aten_linear(inputs, layer, gelu, inplace=True),
        }
        if gelu:
            named["onednn_aten_gelu"] = lambda: _onednn_linear(inputs, layer, gelu, prepack, fused_gelu=False)
        return named

    kernels = candidates(hidden_states)
    chosen = _CALLER_KERNEL.get()
    if chosen is None:
        rows = hidden_states.numel() // hidden_states.shape[-1]
        # The weight's shape, not the layer: heads may be tied.
        key = LinearKey(rows_bucket(rows), *layer.weight.shape, gelu, prepack, torch.get_num_threads())

        def timed() -> dict[str, Callable[[], torch.Tensor]]:
            return candidates(timing_rows(hidden_states.reshape(-1, hidden_states.shape[-1])))

        chosen = LINEAR_KERNELS.choose(key, kernels, cold=rows < COMPUTE_BOUND_ROWS, timed=timed)
    return kernels[chosen]()
