"""Listening sockets, and a uvicorn server run in a background thread (benchmarks, tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time

__all__ = ["BackgroundServer", "bind"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (IPv4 or IPv6; port 0 lets the system pick a free port).

    Raises:
        OSError: The address is in use or not available here.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.listen(128)
    return sock


class BackgroundServer:
    """Serve an ASGI app with uvicorn in a daemon thread on 127.0.0.1 (a free port by default) until `stop()`.

    Args:
        app: The ASGI app (e.g. `create_app(pipe)`).
        port: 0 (default) for a free port.

    Attributes:
        url: The base URL, `http://127.0.0.1:PORT`.
    """

    def __init__(self, app, port: int = 0, start_seconds: float = 60.0):
        import uvicorn

        self.sock = bind("127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.start_seconds = start_seconds
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> BackgroundServer:
        """Start serving; returns once uvicorn has started (at most `start_seconds`)."""
        self.thread.start()
        deadline = time.monotonic() + self.start_seconds
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the server did not start within {self.start_seconds} s")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving (the app's lifespan stops its worker) and wait up to `timeout` seconds for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the server did not stop within {timeout} s")

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
