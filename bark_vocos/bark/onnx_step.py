"""Decode steps of Bark's causal transformers (semantic, coarse) as one ONNX Runtime graph.

A one-token decode step on the CPU has two implementations, chosen by timing whole steps
(`bark_vocos.bark.decoder.DECODE_ENGINES`):

- `"torch"`: the step in PyTorch (float32 linear layers through `bark_vocos.kernels.linear`, or in the fast engine
  `Int8Linear` layers);
- `"onnxruntime"`: this module. The embedding lookups (token and position, from the model's tables bound in place),
  the blocks, the final layer norm and the LM head run as a single ONNX Runtime call: `Gather`, `LayerNormalization`,
  the linear layers, `GroupQueryAttention` (reads the key/value cache in place and writes the new positions into it)
  and `Gelu` (exact, erf). The linear layers are float32 `Gemm` in the exact engine and, in the fast engine (and the
  exact engine's drafts), `MatMulNBits` with 8-bit weights in blocks of up to 128 input channels and int8 products
  (`accuracy_level=4`), rounded once per weight and kept on disk (`rounding`). The key/value buffers are the
  torch tensors of `CausalDecoder`, bound by pointer, so prompts (run in PyTorch) and steps (run here) share one
  cache and nothing is copied per step. A call takes one or a few new positions per sequence (speculative decoding
  verifies its drafts in one pass); for prompts of hundreds of positions PyTorch is faster.

Why: a step in PyTorch is ~1500 small operator calls around the matrix products, one ONNX Runtime call here (the
measured gain: docs/speed.md). In float32 the two compute the same sums in a different order (as oneDNN and MKL
do); in int8 this module's block-wise scales round less than `Int8Linear`'s per-row ones (tested).

A session holds its own prepacked copy of the linear weights (float32 `Gemm` on the weight as stored: the stage's
weights again; 8-bit: a quarter of it; the exact engine holds both, its 8-bit session drafting for speculative
decoding). A float32 session reads the other parameters (norms, biases) in place from the module.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..permissions import mark_used, prune_unused, write_cache_file
from ..tuning import rounded_weight_folder, step_graph_folder
from .rounding import RoundedWeights, block_size

__all__ = ["OnnxDecodeStep", "onnx_step_available", "onnx_step_supported"]

_LAYER_NORM_EPS = 1e-5  # BarkLayerNorm's epsilon


def onnx_step_available() -> bool:
    """Whether `onnxruntime` and `onnx` are installed."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def onnx_step_supported(model: nn.Module, int8: bool) -> bool:
    """Whether this module can run `model` (a `BarkCausalModel` on the CPU in float32), with 8-bit weights if
    `int8`: ONNX Runtime installed, the head size a multiple of 8, and for 8-bit weights every linear layer's input
    width a multiple of 16."""
    config = model.config
    widths = (config.hidden_size, 4 * config.hidden_size)
    return (
        onnx_step_available()
        and model.device.type == "cpu"
        and model.lm_head.weight.dtype == torch.float32
        and config.hidden_size % config.num_heads == 0
        and (config.hidden_size // config.num_heads) % 8 == 0
        and (not int8 or all(block_size(width) is not None for width in widths))
    )


# onnx's `TensorProto` element types (fixed by the ONNX standard), so that describing a graph needs no `onnx` import
_FLOAT, _INT32, _INT64 = 1, 6, 7
_OPSETS = (("", 17), ("com.microsoft", 1))
# Bumped when the graphs' serialization changes in a way their description does not show (see `_GraphBuilder.key`).
GRAPH_FORMAT = 1


class StepGraph(NamedTuple):
    """A decode step's ONNX graph, serialized without its weights, and the weights by initializer name.

    The graph names each weight as an external initializer and the session is given the arrays
    (`SessionOptions.add_external_initializers`, which copies them in): serializing bark-small's float32 weights into
    the graph and parsing them back cost seconds of the exact engine's first call (docs/design-notes.md). `cached` is
    the file the serialized graph was read from (`build_step_graph`), None when it was built here.
    """

    model: bytes
    weights: dict[str, np.ndarray]
    cached: Path | None = None


class _GraphBuilder:
    """A step graph described as its nodes, small constants, weights and inputs/outputs are added, without `onnx`;
    `serialize` makes the ONNX model of it (importing `onnx`, which alone costs about half a second).

    Args:
        int8: whether linear layers get 8-bit weights (`MatMulNBits`) instead of float32 `Gemm`.
        rounded: where the 8-bit weights come from (`rounding.RoundedWeights`).
    """

    def __init__(self, int8: bool, rounded: RoundedWeights) -> None:
        self.int8 = int8
        self.rounded = rounded
        self.nodes: list[tuple[str, tuple[str, ...], tuple[str, ...], str, dict[str, Any]]] = []
        self.small: dict[str, np.ndarray] = {}  # the structure's constants, serialized in the graph
        self.external: dict[str, np.ndarray] = {}  # the weights, given to the session in memory
        self.inputs: list[tuple[str, int, list]] = []  # (name, element type, shape) of the graph's inputs
        self.outputs: list[tuple[str, int, list]] = []

    def node(self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attributes: Any) -> None:
        self.nodes.append((op, tuple(inputs), tuple(outputs), domain, attributes))

    def constant(self, array: np.ndarray, name: str) -> str:
        """A small constant of the graph's structure (a shape, an axis), serialized in it."""
        self.small[name] = array
        return name

    def weight(self, array: np.ndarray, name: str) -> str:
        """A weight (or what is derived from one), an external initializer given to the session in memory."""
        self.external[name] = np.ascontiguousarray(array)
        return name

    def key(self) -> str:
        """A digest of everything the serialized graph holds (nodes, inputs, outputs, small constants, the weights'
        names, types and shapes, but not their values): graphs with the same key serialize to the same bytes."""
        import hashlib

        description = (
            GRAPH_FORMAT, _OPSETS, self.inputs, self.outputs,
            [(op, inputs, outputs, domain, sorted(attributes.items())) for op, inputs, outputs, domain, attributes
             in self.nodes],
            [(name, array.dtype.str, array.shape, array.tobytes().hex()) for name, array in self.small.items()],
            [(name, array.dtype.str, array.shape) for name, array in self.external.items()],
        )  # fmt: skip
        return hashlib.sha256(repr(description).encode()).hexdigest()[:32]

    def serialize(self) -> bytes:
        """The ONNX model described, its weights as external initializers (their data is never in the bytes)."""
        import onnx
        from onnx import TensorProto, helper

        initializers = [onnx.numpy_helper.from_array(array, name) for name, array in self.small.items()]
        for name, array in self.external.items():
            tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype), dims=array.shape)
            # Written here, not with `onnx.external_data_helper.set_external_data`, which refuses a tensor without raw
            # data: these never carry any. The location is never read, the arrays are given in memory.
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", name), ("length", str(array.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            initializers.append(tensor)
        nodes = [
            helper.make_node(op, list(inputs), list(outputs), domain=domain or None, **attributes)
            for op, inputs, outputs, domain, attributes in self.nodes
        ]
        values = [[helper.make_tensor_value_info(*info) for info in infos] for infos in (self.inputs, self.outputs)]
        graph = helper.make_graph(nodes, "bark_decode_step", values[0], values[1], initializers)
        opsets = [helper.make_opsetid(domain, version) for domain, version in _OPSETS]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()

    def project(self, inputs: str, layer: nn.Linear, name: str) -> str:
        """`layer(inputs)`: float32 `Gemm` or 8-bit `MatMulNBits` (then the bias added)."""
        if not self.int8:  # Gemm on the (N, K) weight as stored: ORT keeps only its prepacked copy (MatMul kept two)
            node_inputs = [inputs, self.weight(layer.weight.detach().float().numpy(), f"{name}.weight")]
            if layer.bias is not None:
                node_inputs.append(self.weight(layer.bias.detach().float().numpy(), f"{name}.bias"))
            self.node("Gemm", node_inputs, [name], transB=1)
            return name
        codes, scales, block = self.rounded.blocks(layer.weight)
        node_inputs = [inputs, self.weight(codes, f"{name}.codes"), self.weight(scales, f"{name}.scales")]
        self.node(
            "MatMulNBits", node_inputs, [name], domain="com.microsoft", K=layer.weight.shape[1],
            N=layer.weight.shape[0], bits=8, block_size=block, accuracy_level=4,
        )  # fmt: skip
        if layer.bias is None:
            return name
        self.node("Add", [name, self.weight(layer.bias.detach().float().numpy(), f"{name}.bias")], [f"{name}+bias"])
        return f"{name}+bias"

    def layer_norm(self, inputs: str, norm: nn.Module, name: str) -> str:
        node_inputs = [inputs, self.weight(norm.weight.detach().float().numpy(), f"{name}.weight")]
        if norm.bias is not None:
            node_inputs.append(self.weight(norm.bias.detach().float().numpy(), f"{name}.bias"))
        self.node("LayerNormalization", node_inputs, [name], axis=-1, epsilon=_LAYER_NORM_EPS)
        return name

    def embeddings(self, channels: int) -> str:
        """`hidden` `(B * T, C)`: token embedding + position embedding, positions `[total_len - T, total_len)` for
        every sequence; also the shapes the attention reshapes to (`qkv_shape`, `rows_shape`)."""
        # (B * T, 3C) <-> (B, T, 3C) around the attention, B read from seqlens_k
        self.node("Shape", ["seqlens_k"], ["batch_dim"])
        self.constant(np.array([-1, 3 * channels], dtype=np.int64), "tokens_qkv")
        self.node("Concat", ["batch_dim", "tokens_qkv"], ["qkv_shape"], axis=0)
        self.constant(np.array([-1, channels], dtype=np.int64), "rows_shape")
        self.node("Shape", ["input_ids"], ["rows_dim"])
        self.node("Div", ["rows_dim", "batch_dim"], ["tokens_dim"])  # (1,): T
        self.constant(np.array([0], dtype=np.int64), "axis0")
        self.node("Squeeze", ["tokens_dim", "axis0"], ["tokens"])
        self.node("Cast", ["total_len"], ["end"], to=_INT64)
        self.node("Sub", ["end", "tokens"], ["begin"])
        self.constant(np.array(1, dtype=np.int64), "one")
        self.node("Range", ["begin", "end", "one"], ["positions"])  # (T,)
        self.node("Tile", ["positions", "batch_dim"], ["row_positions"])  # (B * T,)
        self.node("Gather", ["token_embeddings", "input_ids"], ["token_rows"], axis=0)
        self.node("Gather", ["position_embeddings", "row_positions"], ["position_rows"], axis=0)
        self.node("Add", ["token_rows", "position_rows"], ["hidden"])
        return "hidden"

    def block(self, hidden: str, block: nn.Module, index: int, heads: int) -> str:
        """One `BarkBlock` on `hidden`, its keys/values read from and written to `past_*_{index}`/`present_*_{index}`;
        returns the block's output name."""
        name = f"block{index}"
        normed = self.layer_norm(hidden, block.layernorm_1, f"{name}.norm1")
        qkv = self.project(normed, block.attn.att_proj, f"{name}.qkv")  # packed query, key, value
        self.node("Reshape", [qkv, "qkv_shape"], [f"{name}.qkv3"])  # (B, T, 3C)
        cache = [f"past_key_{index}", f"past_value_{index}", "seqlens_k", "total_len"]
        self.node(
            "GroupQueryAttention", [f"{name}.qkv3", "", "", *cache],
            [f"{name}.attention3", f"present_key_{index}", f"present_value_{index}"],
            domain="com.microsoft", num_heads=heads, kv_num_heads=heads,
        )  # fmt: skip
        self.node("Reshape", [f"{name}.attention3", "rows_shape"], [f"{name}.attention"])
        attended = self.project(f"{name}.attention", block.attn.out_proj, f"{name}.out")
        self.node("Add", [hidden, attended], [f"{name}.residual1"])
        normed = self.layer_norm(f"{name}.residual1", block.layernorm_2, f"{name}.norm2")
        expanded = self.project(normed, block.mlp.in_proj, f"{name}.mlp_in")
        self.node("Gelu", [expanded], [f"{name}.gelu"], domain="com.microsoft")
        contracted = self.project(f"{name}.gelu", block.mlp.out_proj, f"{name}.mlp_out")
        self.node("Add", [f"{name}.residual1", contracted], [f"{name}.residual2"])
        return f"{name}.residual2"


def _describe(model: nn.Module, int8: bool, head: nn.Linear, rounded: RoundedWeights) -> _GraphBuilder:
    """The step graph of `model` with logits from `head`, described (see `build_step_graph`)."""
    config = model.config
    channels, heads = config.hidden_size, config.num_heads
    cache_shape = ["batch", heads, "capacity", channels // heads]
    builder = _GraphBuilder(int8, rounded)
    builder.inputs += [
        ("input_ids", _INT64, ["rows"]),  # rows: batch * tokens per sequence
        ("token_embeddings", _FLOAT, ["input_vocab", channels]),
        ("position_embeddings", _FLOAT, ["positions", channels]),
        ("seqlens_k", _INT32, ["batch"]),
        ("total_len", _INT32, []),
    ]
    builder.outputs.append(("logits", _FLOAT, ["rows", head.weight.shape[0]]))
    hidden = builder.embeddings(channels)
    for index, block in enumerate(model.layers):
        for kind in ("key", "value"):
            builder.inputs.append((f"past_{kind}_{index}", _FLOAT, cache_shape))
            builder.outputs.append((f"present_{kind}_{index}", _FLOAT, cache_shape))
        hidden = builder.block(hidden, block, index, heads)
    normed = builder.layer_norm(hidden, model.layernorm_final, "norm_final")
    builder.node("Identity", [builder.project(normed, head, "lm_head")], ["logits"])
    return builder


def build_step_graph(
    model: nn.Module,
    int8: bool,
    head: nn.Linear | None = None,
    cache: Path | None = None,
    rounded: RoundedWeights | None = None,
) -> StepGraph:
    """The ONNX graph of one decode step of `model` (a transformers `BarkCausalModel`), its linear layers in
    float32 or, if `int8`, with 8-bit weights; the logits are those of `head` (`(C,)` -> `(V,)`, e.g. some rows of
    the LM head), or of `model.lm_head` if None.

    With `cache` (a folder), the serialized graph is read from there when a graph of the same description was
    written before (`_GraphBuilder.key`: the weights' values are not part of it, they are always computed here), and
    written there (atomically) otherwise; a folder that cannot be written is skipped with one warning. Graphs not read
    for `permissions.UNUSED_CACHE_DAYS` days are deleted when a new one is written.
    `rounded` gives the 8-bit weights (read from its cache, else rounded here; `rounding.RoundedWeights`); None:
    rounded here every time.

    Inputs: `input_ids` `(B * T,)` int64 (T new tokens per sequence), `token_embeddings` `(V_in, C)` and
    `position_embeddings` `(P, C)` (the model's tables, bound in place: the graph looks the rows up itself, so a step
    runs no PyTorch operators before it), `seqlens_k` `(B,)` int32 (positions in the cache after the new ones, minus
    one), `total_len` int32 scalar (positions after the new ones), and per layer `past_key_i`/`past_value_i`
    `(B, H, L, D)`. The new tokens take positions `[total_len - T, total_len)`. Outputs: `logits` `(B * T, V)` and
    per layer `present_key_i`/`present_value_i`, to be bound to the same buffers as the past ones (the new positions
    are written in place).
    """
    builder = _describe(model, int8, model.lm_head if head is None else head, rounded or RoundedWeights())
    if cache is None:
        return StepGraph(builder.serialize(), builder.external)
    path = cache / f"step-{builder.key()}.onnx"
    if path.is_file():
        mark_used(path)
        return StepGraph(path.read_bytes(), builder.external, path)
    serialized = builder.serialize()
    prune_unused(cache)
    try:
        write_cache_file(path, serialized)
    except OSError as error:
        warnings.warn(f"bark-vocos: could not cache the decode-step graph in {path.parent}: {error}", stacklevel=2)
    return StepGraph(serialized, builder.external)


class _Binding:
    """An `onnxruntime` IO binding of one set of cache buffers, with the small input/output buffers it reads/writes."""

    def __init__(self, session, model: nn.Module, vocab: int, keys: list[torch.Tensor], values: list[torch.Tensor]):
        batch = keys[0].shape[0]
        self.keys = keys
        self.vocab = vocab
        self.ids = torch.empty(0, dtype=torch.int64)
        self.logits = torch.empty(0)
        self.seqlens = torch.empty(batch, dtype=torch.int32)
        self.total = torch.empty((), dtype=torch.int32)
        self.io = session.io_binding()
        # held here, so that the bound memory stays alive even if the module's parameters are replaced later
        self.tables = (model.input_embeds_layer.weight.detach(), model.position_embeds_layer.weight.detach())
        self._bind("token_embeddings", self.tables[0])
        self._bind("position_embeddings", self.tables[1])
        self._bind("seqlens_k", self.seqlens)
        self._bind("total_len", self.total)
        for index, (key, value) in enumerate(zip(keys, values, strict=True)):
            self._bind(f"past_key_{index}", key)
            self._bind(f"past_value_{index}", value)
            self._bind(f"present_key_{index}", key, output=True)
            self._bind(f"present_value_{index}", value, output=True)

    def rows(self, count: int) -> None:
        """Bind input and logits buffers for `count` rows (batch times tokens per sequence), if not bound already."""
        if self.ids.shape != (count,):
            self.ids = torch.empty(count, dtype=torch.int64)
            self.logits = torch.empty(count, self.vocab)
            self._bind("input_ids", self.ids)
            self._bind("logits", self.logits, output=True)

    def _bind(self, name: str, tensor: torch.Tensor, output: bool = False) -> None:
        if not tensor.is_contiguous():
            raise ValueError(f"{name}: the buffer must be contiguous")
        dtype = {torch.float32: np.float32, torch.int32: np.int32, torch.int64: np.int64}[tensor.dtype]
        bind = self.io.bind_output if output else self.io.bind_input
        bind(name, "cpu", 0, dtype, tuple(tensor.shape), tensor.data_ptr())


class OnnxDecodeStep:
    """One decode step of a `BarkCausalModel` in ONNX Runtime (see the module docstring).

    The session is built on first use for each torch thread count (one to a few seconds for bark-small); the model
    is read, never modified.

    Args:
        model: a transformers `BarkSemanticModel` or `BarkCoarseModel` on the CPU, float32
            (`onnx_step_supported(model, int8)` must hold).
        int8: 8-bit weights (the fast engine) instead of float32 (the exact engine).
        head: the linear layer whose outputs are the logits, instead of `model.lm_head` (e.g. some of its rows).
        release_weights: let go of the float32 weights' file pages once rounded for a session (8-bit weights,
            `build_step_graph`): for a caller that no longer reads them (the fast engine; the exact engine's drafts
            share its float32 weights).
    """

    def __init__(self, model: nn.Module, int8: bool, head: nn.Linear | None = None, release_weights: bool = False):
        if not onnx_step_supported(model, int8):
            raise ValueError("this model cannot run as an ONNX Runtime step (see onnx_step_supported)")
        self.model = model
        self.int8 = int8
        self.head = model.lm_head if head is None else head
        self.release_weights = release_weights
        self.sessions: dict[int, object] = {}  # torch threads -> session
        self.held: dict[int, list] = {}  # torch threads -> the float32 weights its session reads in place
        self.binding: tuple[int, _Binding] | None = None  # (threads, binding of the current cache buffers)

    def _session(self, threads: int):
        if threads not in self.sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            # The pool's threads spin between the nodes of a call (a step is hundreds of short nodes: without spinning,
            # waking the threads for each made an 8-bit step 20% slower) and stop when the call returns, so that
            # PyTorch's work between steps, and the other session of speculative decoding, have the cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "1")
            options.add_session_config_entry("session.force_spinning_stop", "1")
            # the weights are prepacked on the session's threads rather than on one (the same packed weights; the
            # float32 sessions' set-up, in the exact engine's first call, about 0.36 -> 0.22 s per bark-small stage)
            options.add_session_config_entry("session.prepack.enable_parallel", "1")
            rounded = RoundedWeights(rounded_weight_folder(), self.release_weights)
            graph = build_step_graph(self.model, self.int8, self.head, step_graph_folder(), rounded)
            names = list(graph.weights)
            values = [onnxruntime.OrtValue.ortvalue_from_numpy(graph.weights[name]) for name in names]
            if not self.int8:  # views of the module's parameters, read in place rather than copied before
                # prepacking (about 0.1 GB less at the peak per bark-small stage, the same logits); `held` with it
                options.add_session_config_entry("session.use_external_initializer_file_buffers_directly", "1")
                self.held[threads] = values
            options.add_external_initializers(names, values)
            try:
                session = onnxruntime.InferenceSession(graph.model, options, providers=["CPUExecutionProvider"])
            except Exception as error:  # onnxruntime's own exception types; only a cached graph is retried
                if graph.cached is None:
                    raise
                warnings.warn(f"bark-vocos: ignored the cached graph {graph.cached} ({error}); rebuilt", stacklevel=2)
                graph.cached.unlink(missing_ok=True)
                return self._session(threads)
            self.sessions[threads] = session
        return self.sessions[threads]

    def __call__(
        self, input_ids: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor], start: int
    ) -> torch.Tensor:
        """Logits after `T` tokens per sequence, writing their keys and values at positions `[start, start + T)` of
        the cache (each token attends to the cache and to the tokens before it).

        Args:
            input_ids: `(B, T)` int64 token ids (looked up in the model's input and position embeddings).
            keys, values: per layer `(B, H, L, D)` contiguous float32 cache buffers holding positions `[0, start)`.
            start: positions already in the cache (`start + T <= L`).
        Returns:
            `(B, T, V)` float32 logits.
        """
        batch, length = input_ids.shape
        if start + length > keys[0].shape[2]:
            raise ValueError(f"sequence of {start + length} positions exceeds the cache of {keys[0].shape[2]}")
        threads = torch.get_num_threads()
        if self.binding is None or self.binding[0] != threads or self.binding[1].keys is not keys:
            self.binding = (
                threads,
                _Binding(self._session(threads), self.model, self.head.weight.shape[0], keys, values),
            )
        binding = self.binding[1]
        binding.rows(batch * length)
        binding.ids.copy_(input_ids.reshape(batch * length))
        binding.seqlens.fill_(start + length - 1)
        binding.total.fill_(start + length)
        self.sessions[threads].run_with_iobinding(binding.io)
        return binding.logits.view(batch, length, -1).clone()
