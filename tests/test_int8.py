"""`Int8Linear`, the fast engine's int8 layer: each kernel against float32, the kernels against each other, the
measured choice and its forcing variable."""

import pytest
import torch
from torch import nn

from bark_vocos.bark.int8 import INT8_KERNELS, Int8Linear, int8_kernel, int8_kernels_available, packed_together
from bark_vocos.choices import Int8Key
from bark_vocos.kernels import rows_bucket

KERNELS = int8_kernels_available()


def _layer(inputs: int, outputs: int, bias: bool = True) -> nn.Linear:
    torch.manual_seed(0)
    layer = nn.Linear(inputs, outputs, bias=bias)
    layer.weight.data.normal_(0, 0.02)
    return layer


def test_this_torch_offers_an_int8_kernel():
    assert KERNELS, "neither fbgemm nor oneDNN int8 is available"


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("rows", [1, 3, 200])
@pytest.mark.parametrize("bias", [True, False])
def test_each_kernel_is_close_to_float32(pins, kernel, rows, bias):
    layer = _layer(768, 512, bias)
    hidden = torch.randn(rows, 768)
    expected = layer(hidden).detach()
    pins({INT8_KERNELS.variable: kernel})
    got = Int8Linear(layer)(hidden)
    assert got.shape == expected.shape and got.dtype == torch.float32
    # rounding noise of 7-bit activations (one step over the input's range) and 8-bit weights (per row): uniform
    # noise of variance step^2 / 12 on each factor, relative to that factor's mean square
    activation_step = (hidden.max().clamp(min=0) - hidden.min().clamp(max=0)) / 127
    weight_step = layer.weight.abs().amax(dim=1) / 127
    predicted = torch.sqrt(
        activation_step**2 / 12 / hidden.pow(2).mean() + (weight_step**2).mean() / 12 / layer.weight.pow(2).mean()
    )
    error = (got - expected).norm() / (expected - (0 if layer.bias is None else layer.bias)).norm()
    assert error < 1.2 * predicted, f"relative error {error:.4f}, predicted {predicted:.4f}"


@pytest.mark.skipif(len(KERNELS) < 2, reason="only one int8 kernel in this torch build")
@pytest.mark.parametrize("gelu", [False, True])
def test_the_kernels_compute_the_same_thing(pins, gelu):
    layer = _layer(96, 160)
    module = Int8Linear(layer)
    hidden = torch.randn(2, 7, 96)
    outputs = []
    for kernel in KERNELS:
        pins({INT8_KERNELS.variable: kernel})
        outputs.append(module(hidden, gelu=gelu))
    assert outputs[0].shape == (2, 7, 160)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)


def test_the_layer_is_copied_not_changed_and_the_choice_is_measured_once(pins):
    pins({INT8_KERNELS.variable: None})
    INT8_KERNELS.reset()
    layer = _layer(64, 32)
    before = layer.weight.detach().clone()
    module = Int8Linear(layer)
    assert torch.equal(layer.weight, before) and layer.weight.dtype == torch.float32
    assert module.weight.dtype == torch.int8 and module.weight.shape == (32, 64)
    module(torch.randn(5, 64))
    module(torch.randn(6, 64))  # 5 and 6 rows share a size bucket
    module(torch.randn(1, 64))
    module(torch.randn(1, 64), gelu=True)  # the GELU is timed with the product (oneDNN fuses it)
    threads = torch.get_num_threads()
    assert set(INT8_KERNELS.choices) == {
        (3, 64, 32, False, threads),
        (1, 64, 32, False, threads),
        (1, 64, 32, True, threads),
    }
    assert set(INT8_KERNELS.choices.values()) <= set(KERNELS)


def test_bad_uses_raise(pins):
    with pytest.raises(ValueError, match="not a kernel here"):
        pins({INT8_KERNELS.variable: "vnni"})
        Int8Linear(_layer(8, 8))(torch.randn(1, 8))
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device to put the layer on")
    with pytest.raises(ValueError, match="CPU"):
        Int8Linear(_layer(8, 8).cuda())


def test_a_caller_can_choose_the_kernel_for_every_int8_layer_of_a_step(pins):
    pins({INT8_KERNELS.variable: None})
    INT8_KERNELS.reset()
    torch.manual_seed(0)
    layer = Int8Linear(torch.nn.Linear(64, 32))
    hidden = torch.randn(2, 64)
    with torch.no_grad():
        outputs = {}
        for name in int8_kernels_available():
            with int8_kernel(name):
                outputs[name] = layer(hidden)
            torch.testing.assert_close(outputs[name], layer.kernels[name](hidden, False))  # that kernel, not another
    assert INT8_KERNELS.choices == {}  # the caller's choice: nothing timed per layer
    with pytest.raises(ValueError, match="unknown int8 kernel 'mkl'"):
        with int8_kernel("mkl"):
            pass


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_layer_packs_only_the_kernels_it_is_known_to_run(pins, kernel):
    """Pinned, or chosen for the layer's shape by the kept choices (the tuning record), one kernel is packed when the
    layer is made and no other; with nothing known every kernel is; a kernel first met later is packed then. The
    outputs are those of a layer that packed every kernel."""
    layer = _layer(768, 512)
    hidden = torch.randn(3, 768)
    every = Int8Linear(layer)
    assert sorted(every.packed) == sorted(KERNELS)  # nothing known: each will be timed
    with int8_kernel(kernel):
        expected = every(hidden)
    INT8_KERNELS.record(Int8Key(rows_bucket(3), 768, 512, False, torch.get_num_threads()), kernel)
    chosen = Int8Linear(layer)
    assert list(chosen.packed) == [kernel]
    packed = chosen.packed[kernel]
    assert torch.equal(chosen(hidden), expected) and chosen.packed[kernel] is packed
    others = [name for name in KERNELS if name != kernel]
    for name in others:  # a kernel first met in a call is packed then
        with int8_kernel(name):
            chosen(hidden)
    assert sorted(chosen.packed) == sorted(KERNELS)
    INT8_KERNELS.reset()
    pins({INT8_KERNELS.variable: kernel})
    pinned = Int8Linear(layer)
    assert list(pinned.packed) == [kernel] and torch.equal(pinned(hidden), expected)


def test_layers_made_together_are_packed_when_the_block_ends_and_compute_the_same(pins):
    """Inside `packed_together` a layer packs nothing when made; at the end every layer holds the kernels it would
    have packed alone (on a thread pool), with the same outputs, bit for bit. A block that raises packs nothing."""
    layers = [_layer(768, 512), _layer(512, 768, bias=False), _layer(96, 160)]
    alone = [Int8Linear(layer) for layer in layers]
    with packed_together():
        together = [Int8Linear(layer) for layer in layers]
        assert all(not module.packed for module in together)
    for one, other, layer in zip(alone, together, layers, strict=True):
        assert sorted(other.packed) == sorted(one.packed) == sorted(KERNELS)
        hidden = torch.randn(3, layer.in_features)
        for kernel in KERNELS:
            with int8_kernel(kernel):
                assert torch.equal(other(hidden), one(hidden))
    with pytest.raises(RuntimeError, match="stop"):
        with packed_together():
            unpacked = Int8Linear(layers[0])
            raise RuntimeError("stop")
    assert not unpacked.packed
    assert list(Int8Linear(layers[0]).packed)  # outside the block a layer packs when made again


@pytest.mark.parametrize("shape", [(3, 5), (1500, 768), (700, 6, 128)])
@pytest.mark.parametrize("zero_point", [0, 128])
def test_round_symmetric_is_the_plain_formula_rounded_a_few_rows_at_a_time(shape, zero_point):
    """The same codes and scales as the whole-tensor formula, across a chunk boundary (1500 rows of 768: one whole
    chunk and a part) and for an all-zero group (its scale clamped, its codes the zero point)."""
    from bark_vocos.bark.rounding import round_symmetric

    groups = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    groups[0] = 0
    codes, scale = round_symmetric(groups, zero_point)
    expected_scale = groups.abs().amax(dim=-1).clamp(min=1e-12) / 127
    expected = torch.round(groups / expected_scale[..., None]).clamp(-127, 127) + zero_point
    assert codes.dtype == (torch.int8 if zero_point == 0 else torch.uint8)
    assert torch.equal(scale, expected_scale) and torch.equal(codes, expected.to(codes.dtype))
    assert bool((codes[0] == zero_point).all())
