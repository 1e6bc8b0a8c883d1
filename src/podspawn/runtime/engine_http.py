"""The Engine API's few calls a login needs, spoken over the engine's unix socket with the
standard library only.

A first login (a claim from a warm pool, a cold start) used to import the docker SDK
(requests, urllib3: about 0.1 s of CPU) for a handful of requests: an inspect, a listing
by label, an image lookup, ``/info``, creating and starting containers and networks, and an
exec. Docker and Podman answer these the same way, so this module serves both backends'
engines (``runtime.docker``, ``runtime.podman``) and the warm login's state check
(``runtime.docker_login``); only builds, pulls, image imports and an exec fed on stdin still
go through the SDK, imported when first needed.

Each request is one HTTP/1.0 exchange on a fresh connection: the engine answers with a
plain body and closes, so no chunked decoding or connection pool is needed.
"""

from __future__ import annotations

import json
import socket

TYPE_CHECKING = False  # not typing's: the warm login imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

API_VERSION = "v1.41"


class EngineError(Exception):
    """An answer other than success: ``status`` 0 when the socket could not be reached or
    the reply was not HTTP, else the HTTP status and the engine's own ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EngineSocket:
    """Requests to one engine's API socket (``path``)."""

    def __init__(self, path: str, *, timeout: float = 600.0, version: str = API_VERSION) -> None:
        self.path = path
        self.timeout = timeout
        self.version = version
        """The path prefix: the Docker API version, or Podman's ``v4.0.0/libpod``."""

    def request(self, method: str, target: str, body: object = None, *,
                timeout: float | None = None) -> tuple[int, bytes]:
        """(status, body) of ``method target`` (``target`` below the API version, such as
        ``/containers/x/json``), ``body`` sent as JSON when given.

        Raises:
            EngineError: status 0, the socket cannot be reached or answered garbage.
        """
        payload = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} /{self.version}{target} HTTP/1.0\r\nHost: engine\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout if timeout is None else timeout)
                sock.connect(self.path)
                sock.sendall(head.encode() + payload)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise EngineError(0, f"{method} {target}: {exc}") from exc
        reply_head, _, reply = b"".join(chunks).partition(b"\r\n\r\n")
        words = reply_head.split(b"\r\n", 1)[0].split()
        if len(words) < 2 or not words[1].isdigit():
            raise EngineError(0, f"{method} {target}: not an HTTP answer")
        return int(words[1]), reply

    def call(self, method: str, target: str, body: object = None, *,
             timeout: float | None = None) -> object:
        """The decoded JSON answer of a successful request (None for an empty one).

        Raises:
            EngineError: the socket failed (status 0), or the engine answered an error.
        """
        status, reply = self.request(method, target, body, timeout=timeout)
        if status >= 300 and status != 304:  # 304: already so (a start of a running one)
            raise EngineError(status, error_message(reply) or f"HTTP {status}")
        if not reply.strip():
            return None
        try:
            return json.loads(reply)
        except ValueError as exc:
            raise EngineError(0, f"{method} {target}: the answer is not JSON") from exc

    def exec_run(self, container: str, argv: list[str], *, user: str,
                 env: Mapping[str, str], workdir: str) -> tuple[int | None, bytes]:
        """Run ``argv`` in ``container`` to completion: (exit code, stdout and stderr as
        they came). The exit code is None when the engine did not report one.

        Raises:
            EngineError: the engine refused the exec (an unknown user on Podman), or the
                socket failed.
        """
        spec: dict[str, object] = {"Cmd": argv, "User": user, "AttachStdout": True,
                                   "AttachStderr": True, "AttachStdin": False, "Tty": False}
        if env:
            spec["Env"] = [f"{key}={value}" for key, value in env.items()]
        if workdir:
            spec["WorkingDir"] = workdir
        created = self.call("POST", f"/containers/{container}/exec", spec)
        exec_id = str((created or {}).get("Id", "")) if isinstance(created, dict) else ""
        if not exec_id:
            raise EngineError(0, f"exec in {container}: no id in the answer")
        status, stream = self.request("POST", f"/exec/{exec_id}/start",
                                      {"Detach": False, "Tty": False})
        if status >= 300:
            raise EngineError(status, error_message(stream) or f"HTTP {status}")
        inspected = self.call("GET", f"/exec/{exec_id}/json")
        code = inspected.get("ExitCode") if isinstance(inspected, dict) else None
        return (int(code) if isinstance(code, int) else None), demultiplex(stream)


def data_root(path: str, *, unavailable: str) -> str:
    """The engine's ``DockerRootDir`` (Podman's graph root), asked of the socket ``path``:
    where the disk guard measures free space.

    Raises:
        RuntimeUnavailable: the engine does not answer (``unavailable`` is the sentence).
    """
    try:
        info = EngineSocket(path, timeout=15).call("GET", "/info")
    except EngineError as exc:
        from podspawn.errors import RuntimeUnavailable

        raise RuntimeUnavailable(unavailable, detail=f"info: {exc}") from exc
    return str(info.get("DockerRootDir") or "") if isinstance(info, dict) else ""


def demultiplex(stream: bytes) -> bytes:
    """The payloads of the engine's multiplexed stdout/stderr stream, in order (8-byte
    frame headers: stream, three zero bytes, big-endian length)."""
    out: list[bytes] = []
    at = 0
    while at + 8 <= len(stream):
        kind, length = stream[at], int.from_bytes(stream[at + 4:at + 8], "big")
        if kind not in (0, 1, 2) or stream[at + 1:at + 4] != b"\0\0\0":
            return b"".join(out) + stream[at:]  # not framed after all (a TTY exec)
        out.append(stream[at + 8:at + 8 + length])
        at += 8 + length
    return b"".join(out)


def filter_query(filters: Mapping[str, list[str]]) -> str:
    """The ``filters`` query value of a listing (``{"name": [...]}``, ``{"label": [...]}``)."""
    from urllib.parse import quote

    return quote(json.dumps(dict(filters)), safe="")


def label_filter(labels: Mapping[str, str]) -> str:
    """The ``filters`` query value that matches objects carrying every one of ``labels``."""
    return filter_query({"label": [f"{k}={v}" for k, v in labels.items()]})


def error_message(reply: bytes) -> str:
    """The engine's ``message`` in an error answer, or the answer's own text."""
    try:
        data = json.loads(reply)
    except ValueError:
        return reply.decode(errors="replace").strip()[:500]
    return str(data.get("message", "")) if isinstance(data, dict) else ""
