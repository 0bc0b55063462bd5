"""The comparison from text: Bark codes per prompt, seed and engine, each decoded by every chosen decoder.

Every engine generates the same prompts with the same seeds; its fine codes are decoded by each decoder (EnCodec's
own decoder, Vocos), so a set of candidates compares decoders, engines, or both, on the same items. Nothing has a
reference: the candidates get the no-reference measures and DNSMOS.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..defaults import DECODERS, ENGINES
from .scoring import ANALYSIS_SAMPLING_RATE, Comparison, metric_names, score_item

__all__ = ["BUILTIN_PROMPTS", "candidate_names", "compare_text", "read_prompts"]

# `read_prompts(BUILTIN_PROMPTS)` (`--text-file builtin`): 20 varied English prompts shipped with the package.
BUILTIN_PROMPTS = "builtin"
# Decoders in the order their candidates are listed (the A/B reference first).
DECODER_ORDER = ("encodec", "vocos")


def read_prompts(source: str | os.PathLike) -> list[str]:
    """The prompts of a text file, one a line (blank lines skipped), or the built-in set for `"builtin"`.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file holds no prompt.
    """
    if os.fspath(source) == BUILTIN_PROMPTS:
        text = (files("pipelines.compare") / "builtin_prompts.txt").read_text(encoding="utf-8")
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"prompt file not found: {path} (one prompt a line, or 'builtin')")
        text = path.read_text(encoding="utf-8")
    prompts = [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"no prompts in {source} (one prompt a line)")
    return prompts


def candidate_names(engines: Sequence[str], decoders: Sequence[str]) -> dict[tuple[str, str], str]:
    """(engine, decoder) -> candidate name: the decoder's name with one engine, the engine's with one decoder,
    `engine.decoder` with several of both.

    Raises:
        ValueError: An unknown or repeated engine or decoder, or an empty list (the message lists the valid ones).
    """
    for kind, chosen, valid in (("engine", engines, ENGINES), ("decoder", decoders, DECODERS)):
        if not chosen:
            raise ValueError(f"give at least one {kind}: {', '.join(valid)}")
        unknown = [value for value in chosen if value not in valid]
        if unknown or len(set(chosen)) != len(chosen):
            raise ValueError(f"{kind}s must be distinct values of {', '.join(valid)}, got {list(chosen)}")
    names = {}
    for engine in engines:
        for decoder in sorted(decoders, key=DECODER_ORDER.index):
            if len(engines) == 1:
                names[engine, decoder] = decoder
            elif len(decoders) == 1:
                names[engine, decoder] = engine
            else:
                names[engine, decoder] = f"{engine}.{decoder}"
    return names


def compare_text(
    texts: Sequence[str],
    pipeline: Any,
    seed: int = 0,
    seeds: int = 1,
    engines: Sequence[str] | None = None,
    decoders: Sequence[str] = DECODER_ORDER,
    **generate_kwargs: Any,
) -> Comparison:
    """Generate Bark codes for every text and seed with every engine, and decode each engine's codes every way.

    Args:
        texts: Prompts.
        pipeline: A `pipelines.TextToWavPipeline`; its stages are swapped for each engine while it generates (and
            restored after), its decoders decode.
        seed: First generation seed: text `i`, seed index `j` uses `seed + j * len(texts) + i`, the same for every
            engine.
        seeds: Seeds per text (>= 1). Items are `text00`... with one seed, `text00-s0`... with several.
        engines: Engines of `bark_vocos.bark.ENGINES`; None: the pipeline's own stages only (named by their engine).
        decoders: `"encodec"` and/or `"vocos"`.
        **generate_kwargs: Passed to the pipeline call (e.g. `voice_preset=`).

    Returns:
        A `Comparison` with mode `"text"`, candidates named by `candidate_names`, the no-reference measures and
        DNSMOS; each item's `codes` is the engine -> fine codes `(8, frames)` mapping (one array with one engine).

    Raises:
        ValueError: No text, `seeds < 1`, or a bad engine or decoder.
    """
    import torch

    from bark_vocos.bark import bark_stages

    if not texts:
        raise ValueError("give at least one text")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1, got {seeds!r}")
    own = pipeline.stages
    engines = list(engines) if engines is not None else [getattr(own, "mode", "transformers")]
    names = candidate_names(engines, decoders)
    stages = {engine: own if getattr(own, "mode", "transformers") == engine else None for engine in engines}
    first = "vocos" if "vocos" in decoders else "encodec"  # the decoder the pipeline call itself uses
    width = max(2, len(str(len(texts) - 1)))
    items = {}  # (text, seed index) -> (item name, candidate -> audio, engine -> codes)
    try:
        for engine in engines:
            pipeline.stages = stages[engine] if stages[engine] is not None else bark_stages(pipeline.bark, engine)
            for j in range(seeds):
                for i, text in enumerate(texts):
                    name = f"text{i:0{width}d}" + (f"-s{j}" if seeds > 1 else "")
                    # no pauses: the codes are then decoded in one pass, as `decode` does
                    output = pipeline(
                        text, decoder=first, seed=seed + j * len(texts) + i, pause_seconds=0, **generate_kwargs
                    )
                    codes = torch.as_tensor(output.codes)  # (8, frames): Bark's fine codes
                    _, audio, all_codes = items.setdefault((i, j), (name, {}, {}))
                    all_codes[engine] = codes.numpy()
                    for decoder in decoders:
                        audio[names[engine, decoder]] = (
                            output.audio if decoder == first else pipeline.decode(codes, decoder)
                        )
    finally:
        pipeline.stages = own
    compared = []
    for key in sorted(items, key=lambda key: (key[1], key[0])):
        name, audio, all_codes = items[key]
        item = score_item(name, {candidate: audio[candidate] for candidate in names.values()}, ANALYSIS_SAMPLING_RATE)
        item.codes = all_codes[engines[0]] if len(engines) == 1 else all_codes
        compared.append(item)
    return Comparison(
        mode="text",
        sampling_rate=ANALYSIS_SAMPLING_RATE,
        candidates=list(names.values()),
        metrics=metric_names(False),
        items=compared,
        settings={
            "seed": seed,
            "seeds": seeds,
            "engines": engines,
            "decoders": list(decoders),
            "texts": list(texts),
            "bandwidth_kbps": 6.0,
        },
    )
