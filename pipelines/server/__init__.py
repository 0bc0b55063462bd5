"""bark-vocos's speech server: OpenAI's audio speech API over a `TextToWavPipeline` (FastAPI; `bark-vocos serve`).

Needs the `server` extra (`pip install -e ".[server]"`): fastapi and uvicorn.
"""

from .app import MODEL_ID, ServerSettings, create_app
from .background import BackgroundServer, bind
from .voices import OPENAI_VOICES, voice_table
from .worker import GenerationWorker, QueueFullError, SpeechJob

__all__ = [
    "BackgroundServer",
    "MODEL_ID",
    "OPENAI_VOICES",
    "GenerationWorker",
    "QueueFullError",
    "ServerSettings",
    "SpeechJob",
    "bind",
    "create_app",
    "voice_table",
]
