"""``podspawn ping [SERVER]``: how far a connection to a podspawn server gets, and how fast.

Four steps, each timed, stopping at the first that fails with one sentence saying why:

1. resolve the name (after ``ssh -G``, so ``Host`` aliases and ``HostName`` in the user's
   ssh config count, exactly as for ``ssh``);
2. open TCP to the SSH port;
3. read the server's SSH banner on that connection;
4. run ``ssh -T -o BatchMode=yes SERVER podspawn-version``, which a podspawn server answers
   before making any session. The user's known_hosts is honoured, never bypassed, so a
   changed host key is reported as what it may be: someone in the middle.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace

from podspawn.client.config import ClientConfig, parse_address
from podspawn.errors import ConfigError, SetupError

VERSION_VERB = "podspawn-version"
_BANNER_MAX = 255


@dataclass(frozen=True, slots=True)
class PingResult:
    target: str
    """What was pinged, as given (``(default)`` for servers.default)."""
    host: str = ""
    port: int = 22
    user: str = ""
    address: str | None = None
    resolve_ms: float | None = None
    tcp_ms: float | None = None
    banner: str | None = None
    banner_ms: float | None = None
    ssh_ms: float | None = None
    version: str | None = None
    error_kind: str | None = None
    """``dns``, ``refused``, ``timeout``, ``unreachable``, ``not-ssh``, ``hostkey-changed``,
    ``hostkey-unknown``, ``auth``, ``refused-by-podspawn``, ``no-podspawn`` or ``ssh``."""
    error: str | None = None
    ssh_argv: tuple[str, ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def destination(arg: str | None, config: ClientConfig) -> tuple[str, str, int | None]:
    """(label, ``[user@]host`` for ssh, port or None) for what the user asked to ping.

    Raises:
        ConfigError: no SERVER given and no servers.default, or a bad address.
    """
    if arg is None:
        if config.default is None:
            raise ConfigError("no SERVER given and no servers.default set; pass one, or set "
                              "it with: podspawn config set servers.default HOST")
        return "(default)", config.default.host, config.default.port
    user, at, rest = arg.rpartition("@")
    if rest.lower().endswith(".pod"):
        server = config.resolve(rest)
        return arg, f"{user}{at}{server.host}", server.port
    host, port = parse_address(rest)
    return arg, f"{user}{at}{host}", port


def ssh_base(ssh_config: str | None, port: int | None) -> list[str]:
    argv = ["ssh"]
    if ssh_config:
        argv += ["-F", ssh_config]
    if port is not None:
        argv += ["-p", str(port)]
    return argv


def effective(dest: str, *, ssh_config: str | None, port: int | None) -> tuple[str, int, str]:
    """(hostname, port, user) ssh would use for ``dest`` (``ssh -G``).

    Raises:
        SetupError: ssh is missing or rejects the destination.
    """
    try:
        result = subprocess.run([*ssh_base(ssh_config, port), "-G", "--", dest],
                                capture_output=True, text=True, timeout=10, check=False)
    except FileNotFoundError:
        raise SetupError("ssh is not installed; install the OpenSSH client") from None
    if result.returncode != 0:
        said = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise SetupError(f"ssh does not accept {dest!r}: {said}")
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key, value.strip())
    return values.get("hostname", dest), int(values.get("port", "22")), values.get("user", "")


def ping(arg: str | None, *, config: ClientConfig, ssh_config: str | None = None,
         timeout: float = 5.0) -> PingResult:
    """Run the four steps against ``arg`` (or servers.default).

    Raises:
        ConfigError, SetupError: nothing can be tried (no server, no ssh).
    """
    label, dest, port = destination(arg, config)
    host, real_port, user = effective(dest, ssh_config=ssh_config, port=port)
    result = PingResult(target=label, host=host, port=real_port, user=user)
    result = resolve(result, timeout)
    if result.ok:
        result = connect_and_read_banner(result, timeout)
    if result.ok:
        result = ask_version(result, dest, ssh_config=ssh_config, port=port, timeout=timeout)
    return result


def resolve(result: PingResult, timeout: float) -> PingResult:
    """The first address of ``result.host``; getaddrinfo has no timeout, so it runs in a
    daemon thread and is abandoned after ``timeout``."""
    found: list[object] = []
    start = time.monotonic()

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(result.host, result.port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    millis = _ms(start)
    if not found:
        return _failed(result, "dns", f"no answer from DNS for {result.host} within "
                                      f"{timeout:g}s; check the resolver and the name")
    answer = found[0]
    if isinstance(answer, OSError):
        reason = answer.strerror if isinstance(answer, socket.gaierror) else str(answer)
        return _failed(result, "dns", f"cannot resolve {result.host}: {reason}; check the "
                                      "server name (a typo, or servers.default)")
    address = str(answer[0][4][0])  # type: ignore[index]
    return replace(result, address=address, resolve_ms=millis)


def connect_and_read_banner(result: PingResult, timeout: float) -> PingResult:
    where = f"{result.host} port {result.port}"
    start = time.monotonic()
    try:
        sock = socket.create_connection((result.address or result.host, result.port),
                                        timeout=timeout)
    except ConnectionRefusedError:
        return _failed(result, "refused", f"{where} refused the connection: nothing listens "
                                          "there; check the port and that sshd runs")
    except TimeoutError:
        return _failed(result, "timeout", f"{where} did not answer within {timeout:g}s: the "
                                          "host is down or a firewall drops the packets")
    except OSError as exc:
        return _failed(result, "unreachable", f"cannot reach {where}: "
                                              f"{exc.strerror or type(exc).__name__}")
    result = replace(result, tcp_ms=_ms(start))
    with sock:
        start = time.monotonic()
        try:
            line = _read_line(sock)
        except (TimeoutError, OSError):
            line = b""
        millis = _ms(start)
    text = line.decode("utf-8", "replace").strip()
    if not text.startswith("SSH-"):
        shown = repr(text[:40]) if text else "nothing"
        return _failed(result, "not-ssh", f"{where} is not an SSH server: it sent {shown} "
                                          "instead of an SSH banner")
    return replace(result, banner=text, banner_ms=millis)


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < _BANNER_MAX:
        chunk = sock.recv(_BANNER_MAX)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def ask_version(result: PingResult, dest: str, *, ssh_config: str | None, port: int | None,
                timeout: float) -> PingResult:
    argv = [*ssh_base(ssh_config, port), "-T", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, round(timeout))}", "-o", "LogLevel=ERROR",
            "--", dest, VERSION_VERB]
    start = time.monotonic()
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout * 6, check=False)
    except subprocess.TimeoutExpired:
        return _failed(result, "timeout", f"ssh to {result.host} did not finish within "
                                          f"{timeout * 6:g}s")
    result = replace(result, ssh_ms=_ms(start), ssh_argv=tuple(argv))
    version = parse_version(done.stdout) if done.returncode == 0 else None
    if version is not None:
        return replace(result, version=version)
    kind, message = explain_ssh_failure(done.returncode, done.stderr, host=result.host,
                                        user=result.user)
    return _failed(result, kind, message)


def parse_version(stdout: str) -> str | None:
    """``0.1.0`` from a server's ``podspawn 0.1.0`` answer; None for anything else."""
    lines = stdout.strip().splitlines()
    if len(lines) != 1:
        return None
    words = lines[0].split()
    if len(words) == 2 and words[0] == "podspawn" and words[1][:1].isdigit():
        return words[1]
    return None


def explain_ssh_failure(code: int, stderr: str, *, host: str, user: str) -> tuple[str, str]:
    """(kind, sentence) for an ``ssh ... podspawn-version`` that gave no version."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        where = next((line.split(" in ", 1)[1].strip() for line in stderr.splitlines()
                      if line.startswith("Offending ") and " in " in line), "your known_hosts")
        return ("hostkey-changed",
                f"the host key of {host} is not the one in {where}: someone may be "
                "intercepting the connection, or the server was reinstalled; ask its admin "
                "for the new key's fingerprint before removing the old one (ssh-keygen -R)")
    if "Host key verification failed" in stderr:
        return ("hostkey-unknown",
                f"{host}'s host key is not in your known_hosts; connect once with ssh to check "
                "its fingerprint and accept it")
    if "Permission denied" in stderr:
        return ("auth", f"{host} refused the key of {user or 'your user'} (Permission "
                        "denied); the admin must register it with podspawn add-user")
    last = (stderr.strip().splitlines() or [""])[-1]
    if code == 255:
        return "ssh", f"ssh to {host} failed: {last or 'exit status 255'}"
    if last.startswith("podspawn: "):
        return "refused-by-podspawn", f"podspawn on {host} refused: {last[10:]}"
    return ("no-podspawn",
            f"{host} answers SSH, but no podspawn there understood {VERSION_VERB} (exit "
            f"status {code}); it is not a podspawn server, or one older than this client")


def _failed(result: PingResult, kind: str, message: str) -> PingResult:
    return replace(result, error_kind=kind, error=message)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 1)
