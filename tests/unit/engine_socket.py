"""A unix-socket server that plays a container engine's API for unit tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

NOT_FOUND = b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no such thing"}'


def answering(sock_path: str, replies: dict[str, bytes],
              seen: list[bytes] | None = None) -> Iterator[None]:
    """Serve at ``sock_path`` until the generator resumes: each request gets the reply whose
    key is in its first line (else :data:`NOT_FOUND`), and is appended to ``seen``.
    ``replies`` may change while it serves."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                if seen is not None:
                    seen.append(data)
                line = data.split(b"\r\n", 1)[0].decode()
                conn.sendall(next((r for k, r in replies.items() if k in line), NOT_FOUND))

    threading.Thread(target=serve, daemon=True).start()
    yield
    server.close()
