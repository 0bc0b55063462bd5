"""A live uvicorn server on an ephemeral loopback port, in a thread of the test process, for the server tests."""

from __future__ import annotations

import threading
import time

import uvicorn

from pipelines.commands.serve import bind

__all__ = ["LiveServer"]

START_SECONDS = 30.0


class LiveServer:
    """Serve `app` on 127.0.0.1 (port chosen by the OS) until `stop()`; `url` is its base URL."""

    def __init__(self, app):
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the test server did not start within {START_SECONDS} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop within 30 s"
