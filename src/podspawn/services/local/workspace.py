"""What a local session does to its workspace: copy the checkout in, run ``on_create`` there.

A server runs ``on_create`` in the image build, against the image's own copy of the
checkout. Locally the checkout is usually bind-mounted over that copy, which would hide
what ``on_create`` made (an ``npm install``'s ``node_modules``). So with ``bind``,
``on_create`` runs again in the container, in the mounted workspace, as the user, on the
first start of a session for that checkout; a marker in ``~/.podspawn/created`` (keyed by
the checkout's path, holding the script's hash) keeps it to once per checkout, as a
devcontainer's ``onCreateCommand`` runs once per container. A changed script, ``dev
--fresh`` or ``switch-branch`` runs it again.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.errors import RuntimeFailure

if TYPE_CHECKING:
    from podspawn.runtime.base import EngineState, Runtime

Progress = Callable[[str], None]


class OnCreateFailed(RuntimeFailure):
    """``on_create`` exited non-zero in the workspace; the caller words what to do next."""

    def __init__(self, message: str, *, exit_code: int, output: str) -> None:
        super().__init__(message, detail=output[-2000:])
        self.exit_code = exit_code
        self.output = output


def _marker(state_root: str, directory: str) -> str:
    key = hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()[:16]
    return os.path.join(state_root, "created", key)


def _script_hash(script: str) -> str:
    return hashlib.sha256(script.encode()).hexdigest()


def on_create_done(state_root: str, directory: str, script: str) -> bool:
    """Whether ``script`` already ran in this checkout."""
    try:
        with open(_marker(state_root, directory), encoding="utf-8") as handle:
            return handle.read().strip() == _script_hash(script)
    except FileNotFoundError:
        return False


def forget_on_create(state_root: str, directory: str) -> None:
    """Make the next start run ``on_create`` again (``--fresh``, ``switch-branch``, ``rm``)."""
    try:
        os.unlink(_marker(state_root, directory))
    except FileNotFoundError:
        pass


def _mark(state_root: str, directory: str, script: str) -> None:
    path = _marker(state_root, directory)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(_script_hash(script) + "\n")
    os.replace(tmp, path)


def run_on_create(runtime: Runtime, engine: EngineState, *, state_root: str, directory: str,
                  script: str, user: str, home: str, workdir: str,
                  progress: Progress | None) -> bool:
    """Run ``script`` as ``user`` in ``workdir`` unless it already ran in ``directory``;
    returns whether it ran.

    Raises:
        OnCreateFailed: it exited non-zero (nothing is marked, so the next start retries).
    """
    if on_create_done(state_root, directory, script):
        return False
    if progress:
        first = script.strip().splitlines()[0][:60] if script.strip() else ""
        progress(f"Running on_create in the workspace: {first}")
    result = runtime.exec(engine, ["sh", "-e", "-c", script], user=user, workdir=workdir,
                          env={"HOME": home, "USER": user})
    text = result.output.decode(errors="replace").rstrip()
    if progress and text:
        for line in text.splitlines()[-40:]:
            progress(f"  {line}")
    if result.exit_code != 0:
        log.warning("on_create failed in the workspace", user=user, directory=directory,
                    exit_code=result.exit_code)
        raise OnCreateFailed(f"on_create exited with status {result.exit_code}",
                             exit_code=result.exit_code, output=text)
    _mark(state_root, directory, script)
    return True


def _archive(directory: str) -> bytes:
    """The checkout as a tar stream, ``.git`` included so the copy is a working checkout;
    symlinks stay links (never followed out of the checkout)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in sorted(os.listdir(directory)):
            tar.add(os.path.join(directory, entry), arcname=entry, recursive=True)
    return buffer.getvalue()


def copy_in(runtime: Runtime, engine: EngineState, *, directory: str, target: str,
            user: str, uid: int, gid: int) -> None:
    """Copy the checkout into ``target`` (created if missing), owned by the container user.

    The Go peer hands Docker an archive for a directory that does not exist yet and keeps
    the host's owners; here root makes the directory and gives it to the user, who then
    unpacks the archive, so every file is theirs.

    Raises:
        RuntimeFailure: the directory could not be made or the archive not unpacked.
    """
    made = runtime.exec(engine, ["sh", "-c", 'mkdir -p "$1" && chown -R "$2" "$1"', "sh",
                                 target, f"{uid}:{gid}"])
    if made.exit_code != 0:
        raise RuntimeFailure(f"could not create {target} in the container for --mount copy; "
                             "use --mount bind or check the Podfile's workspace",
                             detail=made.output.decode(errors="replace")[-2000:])
    unpacked = runtime.exec(engine, ["tar", "-x", "--no-same-owner", "-f", "-", "-C", target],
                            user=user, stdin=_archive(directory))
    if unpacked.exit_code != 0:
        raise RuntimeFailure(f"copying this directory into {target} failed; use --mount bind, "
                             "or make sure the image has tar",
                             detail=unpacked.output.decode(errors="replace")[-2000:])
