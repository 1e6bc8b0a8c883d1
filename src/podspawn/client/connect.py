"""``podspawn connect USER HOST PORT``: the ProxyCommand of ``Host *.pod``.

ssh runs it as ``podspawn connect %r %h %p`` and speaks SSH over its stdin and stdout. For
``NAME.pod`` it works in two steps, both over the user's ordinary SSH login to the server
(whose host key ssh checks against the user's own known_hosts):

1. If ``~/.podspawn/known_hosts`` has no key for the pod name, ask the server for it::

       ssh [-F CONFIG] [-p PORT] -T USER@SERVER podspawn-hostkey

   The answer is one public key line (``ssh-ed25519 AAAA...``); it is checked and stored as
   ``NAME.pod ssh-ed25519 AAAA...`` (``[NAME.pod]:PORT`` when ssh was given another port).
   The key is as trustworthy as the server that sent it, which ssh has just verified.
2. Replace this process with the tunnel, whose stdin/stdout the inner ssh then uses::

       ssh [-F CONFIG] [-p PORT] -T -o BatchMode=no USER@SERVER "podspawn-tunnel NAME"

The inner ssh then checks the container's key against that file, strictly. Any other host
is relayed as plain TCP, like the Go implementation. Nothing here imports rich, and pydantic
only when a config file needs its errors explained.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import subprocess
from collections.abc import Callable, Sequence

from podspawn.client import paths
from podspawn.client.config import POD_SUFFIX, Server, load_client_config
from podspawn.errors import InvalidKey, PodspawnError, SetupError, UsageError
from podspawn.names import project_from_host, validate_user

HOSTKEY_VERB = "podspawn-hostkey"
TUNNEL_VERB = "podspawn-tunnel"
TCP_CONNECT_TIMEOUT = 10.0
HOSTKEY_TIMEOUT = 120.0
_MAX_HOSTKEY_ANSWER = 16 * 1024
_CHUNK = 64 * 1024

#: ``os.execvp``'s shape: what ``connect`` ends in. Tests pass a recorder instead.
ExecFn = Callable[[str, Sequence[str]], object]


def connect(user: str, host: str, port: str | int, *, ssh_config: str | None = None,
            exec_fn: ExecFn | None = None, stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    """Do what ProxyCommand ``connect %r %h %p`` was asked; for a pod, never returns.

    Raises:
        InvalidName: the pod or user name is not acceptable.
        ConfigError: no server is configured for the pod, or the config is wrong.
        SetupError: the server's host key could not be fetched, or ssh is missing.
        PodspawnError: a plain TCP host cannot be reached.
    """
    number = parse_port(port)
    if not host.lower().endswith(POD_SUFFIX):
        return relay(host, number, stdin_fd=stdin_fd, stdout_fd=stdout_fd)
    name = host.strip().lower()
    project = project_from_host(name)
    validate_user(user)
    server = load_client_config().resolve(name)
    ensure_known_host(user=user, pod=name, port=number, server=server, ssh_config=ssh_config)
    argv = tunnel_argv(user=user, project=project, server=server, ssh_config=ssh_config)
    run = exec_fn if exec_fn is not None else os.execvp
    try:
        run(argv[0], argv)
    except FileNotFoundError:
        raise SetupError("ssh is not installed; install the OpenSSH client") from None
    return 0


def parse_port(port: str | int) -> int:
    """Raises: UsageError: ``port`` is not 1-65535."""
    text = str(port).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UsageError(f"port {text[:20]!r} is not a number from 1 to 65535")
    return int(text)


# -- the two ssh command lines ---------------------------------------------------------------


def _outer(server: Server, ssh_config: str | None) -> list[str]:
    argv = ["ssh"]
    if ssh_config:
        argv += ["-F", ssh_config]
    if server.port is not None:
        argv += ["-p", str(server.port)]
    return argv


def hostkey_argv(*, user: str, server: Server, ssh_config: str | None = None) -> list[str]:
    return [*_outer(server, ssh_config), "-T", f"{user}@{server.host}", HOSTKEY_VERB]


def tunnel_argv(*, user: str, project: str, server: Server,
                ssh_config: str | None = None) -> list[str]:
    return [*_outer(server, ssh_config), "-T", "-o", "BatchMode=no",
            f"{user}@{server.host}", f"{TUNNEL_VERB} {project}"]


# -- the pods' known_hosts -------------------------------------------------------------------


def known_host_name(pod: str, port: int) -> str:
    """The name ssh looks the pod's key up by: ``api.pod``, or ``[api.pod]:2222``."""
    return pod if port == 22 else f"[{pod}]:{port}"


def has_known_host(text: str, name: str) -> bool:
    """Whether known_hosts ``text`` has a plain (unhashed, unmarked) line for ``name``."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith(("#", "@", "|")) and \
                name in fields[0].split(","):
            return True
    return False


def ensure_known_host(*, user: str, pod: str, port: int, server: Server,
                      ssh_config: str | None = None, path: str | None = None) -> bool:
    """Make sure the pods' known_hosts has a key for ``pod``; True if one was added.

    Raises:
        SetupError: the server did not answer with exactly one valid public key.
    """
    path = path or paths.known_hosts_path()
    name = known_host_name(pod, port)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            if has_known_host(fh.read(), name):
                return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SetupError(f"cannot read {paths.display(path)}: {exc.strerror}") from exc
    key_type, blob = fetch_host_key(user=user, pod=pod, server=server, ssh_config=ssh_config)
    return _append_known_host(path, f"{name} {key_type} {blob}\n", name)


def fetch_host_key(*, user: str, pod: str, server: Server,
                   ssh_config: str | None = None) -> tuple[str, str]:
    """``(type, base64)`` of the key the server reports for its pods.

    ssh's stdin is /dev/null: this process's stdin belongs to the inner ssh. Its stderr is
    the user's, so password prompts and ssh's own errors show as usual.

    Raises:
        SetupError: ssh failed or the answer is not one valid public key line.
    """
    argv = hostkey_argv(user=user, server=server, ssh_config=ssh_config)
    hint = (f"check that 'ssh {user}@{server.address}' works and that the server's podspawn "
            "supports .pod names")
    try:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                timeout=HOSTKEY_TIMEOUT, check=False)
    except FileNotFoundError:
        raise SetupError("ssh is not installed; install the OpenSSH client") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{server.address} did not send {pod}'s host key in time; "
                         f"{hint}") from None
    if result.returncode != 0:
        raise SetupError(f"could not fetch {pod}'s host key from {server.address} "
                         f"(ssh exited {result.returncode}); {hint}")
    answer = result.stdout[:_MAX_HOSTKEY_ANSWER].decode("ascii", "replace")
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    if len(lines) != 1 or len(result.stdout) > _MAX_HOSTKEY_ANSWER:
        raise SetupError(f"{server.address} did not answer with one host key line for {pod}; "
                         f"{hint}")
    try:
        from podspawn.keys import parse_key  # only on a pod's first connection

        key = parse_key(lines[0], where=f"the host key from {server.address}")
    except InvalidKey as exc:
        raise SetupError(f"{exc.message}; {hint}") from None
    return key.type, key.blob


def _append_known_host(path: str, line: str, name: str) -> bool:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise SetupError(f"cannot write {paths.display(path)}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "rb") as fh:
            fh.seek(0)
            current = fh.read()
        if has_known_host(current.decode("utf-8", "replace"), name):
            return False  # another connect got there first
        prefix = b"\n" if current and not current.endswith(b"\n") else b""
        os.write(fd, prefix + line.encode())
        os.fchmod(fd, 0o600)
        return True
    finally:
        os.close(fd)


# -- plain TCP -------------------------------------------------------------------------------


def relay(host: str, port: int, *, stdin_fd: int = 0, stdout_fd: int = 1,
          timeout: float = TCP_CONNECT_TIMEOUT) -> int:
    """Connect to ``host:port`` and copy bytes both ways until the far end closes.

    End of input half-closes the connection and keeps reading the answer.

    Raises:
        PodspawnError: the connection cannot be made.
    """
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PodspawnError(f"cannot connect to {host}:{port}: {reason}") from None
    with sock, selectors.DefaultSelector() as selector:
        sock.settimeout(None)
        selector.register(stdin_fd, selectors.EVENT_READ, "in")
        selector.register(sock, selectors.EVENT_READ, "sock")
        # BrokenPipe/ConnectionReset: either side went away, so the session is over
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _pump(selector, sock, stdin_fd, stdout_fd)
    return 0


def _pump(selector: selectors.BaseSelector, sock: socket.socket, stdin_fd: int,
          stdout_fd: int) -> None:
    while True:
        for event, _ in selector.select():
            if event.data == "in":
                data = _read(stdin_fd)
                if data:
                    sock.sendall(data)
                    continue
                selector.unregister(stdin_fd)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
            else:
                data = sock.recv(_CHUNK)
                if not data:
                    return
                _write_all(stdout_fd, data)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, _CHUNK)
    except OSError:
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
