"""What users call: text-to-wav, long-form text, the EnCodec-vs-Vocos comparison, and the command line."""

__all__: list[str] = []
