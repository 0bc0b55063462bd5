"""The generation options the optimized stages run themselves, resolved as transformers' `generate` resolves them."""

from __future__ import annotations

from typing import Any

from transformers import BarkCoarseModel, BarkSemanticModel

__all__ = ["DECODE_OPTIONS", "INACTIVE_SETTINGS", "decode_config"]

# Generation options the decode loop implements itself; any other option goes to transformers unchanged.
# (`streamer` is honoured too: it gets the prompt, each new token and `end()`, as from `generate`)
DECODE_OPTIONS = frozenset({"max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_k", "top_p"})

# Generation-config settings that add logits processors or outputs the decode loop does not implement, with the
# value (or values) for which they are inactive.
INACTIVE_SETTINGS: dict[str, tuple[Any, ...]] = {
    "num_beams": (None, 1),
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "sequence_bias": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "min_length": (None, 0),
    "typical_p": (None, 1.0),
    "min_p": (None,),
    "epsilon_cutoff": (None, 0.0),
    "eta_cutoff": (None, 0.0),
    "top_h": (None,),
    "exponential_decay_length_penalty": (None,),
    "return_dict_in_generate": (None, False),
    "output_scores": (None, False),
    "output_logits": (None, False),
    "output_attentions": (None, False),
    "output_hidden_states": (None, False),
    "watermarking_config": (None,),
    "guidance_scale": (None, 1.0),
    "remove_invalid_values": (None, False),
    "num_return_sequences": (None, 1),
    "max_time": (None,),
    "stop_strings": (None,),
}


def decode_config(model: BarkSemanticModel | BarkCoarseModel, config: Any, kwargs: dict[str, Any]) -> Any | None:
    """The generation config `model.generate` would run with, or None when the decode loop cannot honour it exactly.

    transformers' `GenerationMixin.generate` does not use the stage config as given: settings left unset (None) are
    taken from the sub-model's own `generation_config` and then from transformers' global defaults (for example
    `top_k=50`, which Bark's stage configs do not set), and keyword arguments (None values included) override the
    result. The same resolution (`_prepare_generation_config`, the method `generate` calls) is used here so that the
    sampling distribution is the one transformers samples from.

    Args:
        model: the transformers sub-model whose `generate` this replaces.
        config: the stage generation config passed to the stage's `generate`.
        kwargs: generation keyword arguments passed to the stage's `generate`.
    Returns:
        The resolved config, or None (then the caller runs transformers' method).
    """
    options = {key: value for key, value in kwargs.items() if key in DECODE_OPTIONS or value is not None}
    if set(options) - DECODE_OPTIONS:
        return None
    # `_prepare_generation_config(config, **options)` would apply the options last, as below, but warns that passing a
    # config together with options is deprecated: resolve the config alone, then apply the options the same way
    merged, _ = model._prepare_generation_config(config)
    merged.update(**options)
    for name, inactive in INACTIVE_SETTINGS.items():
        if getattr(merged, name, None) not in inactive:
            return None
    return merged
