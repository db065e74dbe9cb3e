"""The real app served over real HTTP by uvicorn in a background thread, on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` (lifespan included) inside the block; yields its base URL, e.g. http://127.0.0.1:4711/."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(600):  # bounded wait for the lifespan (index load) to finish
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def read_answer(sock: socket.socket) -> str:
    """One HTTP answer with a Content-Length, read until its body is complete (a single recv may stop
    after the headers) or the server closes the connection."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= lengths[0]:
                return data.decode("latin-1")
        chunk = sock.recv(4096)
        if not chunk:
            return data.decode("latin-1")
        data += chunk
