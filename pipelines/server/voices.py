"""Voice names of the speech server: the Bark model's presets, and OpenAI's six voice names mapped onto them."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["OPENAI_VOICES", "voice_table"]

# OpenAI's six voice names -> suno's English Bark presets. A fixed, documented choice so that clients which only know
# OpenAI's names (SillyTavern, Open WebUI) get six distinct Bark voices; they do not imitate OpenAI's timbres.
OPENAI_VOICES = {
    "alloy": "v2/en_speaker_6",
    "echo": "v2/en_speaker_1",
    "fable": "v2/en_speaker_3",
    "onyx": "v2/en_speaker_0",
    "nova": "v2/en_speaker_9",
    "shimmer": "v2/en_speaker_4",
}


def voice_table(presets: list[str], aliases: Mapping[str, str] = OPENAI_VOICES) -> dict[str, str | None]:
    """Every voice name the server accepts and the Bark preset it speaks with.

    Each preset of the model is a voice under its own name. Each alias (by default OpenAI's six names) maps to its
    preset; when the model lacks that preset (small or custom checkpoints), the aliases without one take the model's
    presets in turn, in the model's order, so every alias still names a voice. A model without presets speaks every
    alias without a voice prompt (`None`).

    Args:
        presets: The Bark model's preset names (`TextToWavPipeline.available_voice_presets`).
        aliases: Alias -> preset name.

    Returns:
        Voice name -> preset name (or `None`), aliases first.

    Raises:
        ValueError: An alias that is also the name of a preset it does not map to.
    """
    table: dict[str, str | None] = {}
    missing = 0
    for alias, preset in aliases.items():
        if alias in presets and preset != alias:
            raise ValueError(f"voice alias '{alias}' is also a preset name of this Bark model: pick another alias")
        if preset in presets:
            table[alias] = preset
        else:
            table[alias] = presets[missing % len(presets)] if presets else None
            missing += 1
    for preset in presets:
        table.setdefault(preset, preset)
    return table
