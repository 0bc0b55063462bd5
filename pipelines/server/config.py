"""The speech server's settings: API key, queue and input limits, voice aliases, upload limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .voices import OPENAI_VOICES

__all__ = ["JSON_BYTES_PER_CHAR", "JSON_OVERHEAD_BYTES", "ServerSettings"]

JSON_BYTES_PER_CHAR = 12  # a JSON string spends at most 12 bytes on one character (a \uXXXX\uXXXX surrogate pair)
JSON_OVERHEAD_BYTES = 64 * 1024  # room for the other fields


@dataclass
class ServerSettings:
    """How the speech server answers.

    Attributes:
        api_key: When set, every `/v1/...` request needs `Authorization: Bearer <api_key>` (401 otherwise).
        max_queue: Requests that may wait while one generates; more get 503 with `Retry-After`.
        max_input_chars: Longest `input` accepted, in characters (413 beyond; OpenAI's limit is 4096).
        voice_aliases: Extra voice names -> Bark preset (default: OpenAI's six voice names, see `voices.OPENAI_VOICES`).
        generation_kwargs: Extra keyword options of every pipeline call (e.g. `{"max_chunk_tokens": 24}`).
        max_upload_bytes: Largest recording `POST /v1/audio/voices` reads (413 beyond).
        max_upload_seconds: Longest recording it clones (413 beyond).
        max_uploaded_voices: How many uploaded voices the server keeps (409 beyond; a name may be uploaded again).
    """

    api_key: str | None = None
    max_queue: int = 4
    max_input_chars: int = 4096
    voice_aliases: dict[str, str] = field(default_factory=lambda: dict(OPENAI_VOICES))
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_seconds: float = 120.0
    max_uploaded_voices: int = 32

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_upload_seconds", "max_uploaded_voices"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {self.max_queue}")
        if self.max_input_chars < 1:
            raise ValueError(f"max_input_chars must be >= 1, got {self.max_input_chars}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty: give a key or none")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read: enough for `max_input_chars` characters in any JSON spelling."""
        return self.max_input_chars * JSON_BYTES_PER_CHAR + JSON_OVERHEAD_BYTES
