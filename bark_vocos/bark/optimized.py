"""The optimized Bark stages: a drop-in for the three generation stages of transformers' `BarkModel` in two modes,
`"exact"` (the same codes as transformers) and `"fast"` (int8 on the CPU, approximate codes).

`OptimizedBarkStages(bark_model, mode)` exposes `.semantic.generate`, `.coarse_acoustics.generate` and
`.fine_acoustics.generate` with the signatures and outputs of transformers' `BarkSemanticModel.generate`,
`BarkCoarseModel.generate` and `BarkFineModel.generate`: the stage interface of `bark_vocos.bark.engines`, chained by
the one orchestration, `bark_vocos.bark.orchestration.generate_bark_tokens`. It reuses the transformers sub-models'
modules and weights and replaces only what is slow on the CPU, each in its own module:

- `attention`: SDPA (or per-head oneDNN products) over several queries, two small products for a decode step's one;
- `block`: a `BarkBlock` forward over float32 or int8 linear layers (`int8`) and a preallocated key/value cache;
- `decoder`: the causal stages' cache and its steps (PyTorch or one ONNX Runtime call, `onnx_step`, by timing), which
  knows the ids it holds, so the coarse stage's sliding windows re-read only what changed;
- `loop`: the one decode loop of the causal stages, plain or speculative (`speculative`: the exact engine's 8-bit
  step drafts, its float32 step verifies; the tokens and RNG state are those of plain steps);
- `options`, `logits`, `sampling`: generation options resolved as transformers resolves them, its logits
  processors, and its sampling (the same `torch.multinomial` draws);
- `semantic`, `coarse`, `fine`: one module per stage.

Modes:
- `"exact"` (default): fp32, same algorithm. Greedy codes equal transformers'; sampled codes equal transformers'
  for the same torch seed (the generation config is resolved as `generate` resolves it, the logits processors run in
  transformers' order and the global RNG is consumed by the same `torch.multinomial` calls). Attention is computed in
  a different but equivalent order of float operations; that could only flip an exact logit tie or a draw falling
  within rounding of a boundary.
- `"fast"` (opt-in): on the CPU the linear layers of the three transformers (and the LM heads) run as int8 copies
  (`bark_vocos.bark.int8.Int8Linear`); the original model is not modified. On an accelerator they run as they are, in
  the model's dtype. The fine stage attends only over the frames that exist when they fit in one window, instead of
  padding the window to `max_fine_input_length`; attention over several queries may run in bfloat16. Codes then
  differ from fp32 on some tokens: measure the agreement with `bark-vocos bench pipeline`.

Generation options the stages do not speed up (beam search, repetition penalty, `return_dict_in_generate`, ...) are
passed to the transformers method unchanged (and then run at transformers' speed, in fp32).
"""

from __future__ import annotations

from transformers import BarkModel

from ..kernels import FORCE_VARIABLE
from ..tuning import load_record
from .attention import ATTENTION_KERNELS, EXACT_ATTENTION_KERNELS
from .coarse import CoarseStage
from .decoder import DECODE_ENGINES
from .fine import FineStage
from .int8 import INT8_KERNELS, packed_together
from .names import OPTIMIZED_MODES
from .orchestration import BarkGenerationConfigs
from .semantic import SemanticStage

__all__ = ["CHOICE_VARIABLES", "OPTIMIZED_MODES", "OptimizedBarkStages"]

# The environment variables that pin each measured kernel choice of the stages instead of timing it (README,
# "Reproducibility"): the float32 linear kernel, the int8 kernel, the decode-step engine and each engine's attention.
CHOICE_VARIABLES = (
    FORCE_VARIABLE,
    INT8_KERNELS.variable,
    DECODE_ENGINES.variable,
    ATTENTION_KERNELS.variable,
    EXACT_ATTENTION_KERNELS.variable,
)


class OptimizedBarkStages:
    """The three Bark generation stages of a transformers `BarkModel`, optimized (see the module docstring).

    Args:
        bark_model: a loaded transformers `BarkModel`; its modules and weights are reused, never modified.
        mode: `"exact"` (fp32, same codes as transformers, greedy or sampled with the same seed) or `"fast"`
            (int8 linear layers on the CPU, the model's own dtype elsewhere, and an unpadded fine window; codes
            agree with exact mode only approximately).
    Raises:
        TypeError: `bark_model` is not a `BarkModel`.
        ValueError: an unknown mode; the message lists the valid ones.
    """

    def __init__(self, bark_model: BarkModel, mode: str = "exact"):
        if not isinstance(bark_model, BarkModel):
            raise TypeError(f"bark_model must be a transformers BarkModel, got {type(bark_model).__name__}")
        if mode not in OPTIMIZED_MODES:
            raise ValueError(f"mode must be one of {OPTIMIZED_MODES}, got {mode!r}")
        self.bark_model = bark_model
        self.mode = mode
        load_record()  # the machine's kept choices, before the int8 layers pack the kernels they will run
        with packed_together():
            self.semantic = SemanticStage(bark_model.semantic, mode)
            semantic_vocab_size = BarkGenerationConfigs.from_bark(bark_model).semantic.semantic_vocab_size
            self.coarse_acoustics = CoarseStage(bark_model.coarse_acoustics, mode, semantic_vocab_size)
            self.fine_acoustics = FineStage(bark_model.fine_acoustics, mode)
