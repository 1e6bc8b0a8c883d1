"""Host bind mounts of companion services: checked, pinned and staged at container creation.

A Podfile may bind a host directory into a service only under the admin's
``security.allowed_bind_roots``. Checking the path when the Podfile is loaded is not enough:
a service is root in its container and can write into its own bind directory, so it can
plant ``x -> /`` there, and a later service (or a later session of anyone) binding
``<root>/.../x`` would mount the host's ``/``. Checking again just before handing the path
to the engine still leaves a race, because the engine resolves the path once more.

So every time a service container is created:

1. :func:`open_source` walks the path from the allowed root one component at a time with
   ``O_PATH|O_NOFOLLOW|O_DIRECTORY``, refusing a symlink, a non-directory or a missing
   component, and keeps the final directory open;
2. :func:`stage` bind-mounts exactly that open directory (``/proc/self/fd/N``, which the
   kernel resolves to the open inode, not to a path) onto a fresh mount point under the
   root-only ``<state dir>/binds``, then remounts it ``nosuid,nodev`` (and ``ro`` when the
   Podfile says so);
3. the engine is given the staging path. Nobody but root can change a component of it,
   and its last component is the mount, so nothing can redirect it any more.

The engine must not remount the bind itself: Docker's ``readonly`` makes runc remount with
only ``ro``, which drops ``nosuid,nodev``. The staging mount already carries every flag and a
plain bind of it inherits them, so :mod:`podspawn.services.companions` asks for a plain bind.

A session's mounts live in one directory, :func:`podspawn.names.bind_staging_name`, recorded
in its row (``runtime_state["binds"]``). :func:`release` unmounts them when the session is
destroyed, and :func:`reconcile` does the same in ``cleanup`` for sessions that crashed
before or after their row existed. Removal is ``rmdir`` only, never recursive, so a mount
that failed to go away can never take the bound host directory's contents with it.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podspawn import log, paths
from podspawn.errors import PodfileError, RuntimeFailure
from podspawn.names import bind_staging_name, parse_bind_staging_name

if TYPE_CHECKING:
    import ctypes

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

_DIR = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class BindPolicy:
    """Where a session may bind host directories from, and where it stages them."""

    roots: tuple[str, ...]
    """``security.allowed_bind_roots``; empty refuses every host path."""
    staging: str
    """This session's staging directory (:func:`session_staging`)."""


class Refused(Exception):
    """A bind source that must not be mounted; ``reason`` finishes the user's sentence."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def staging_root(db_path: str) -> str:
    """``<state dir>/binds``: beside the state database, so root-only like it."""
    return paths.binds_dir(paths.state_dir(db_path))


def session_staging(db_path: str, user: str, project: str, session: str) -> str:
    return os.path.join(staging_root(db_path), bind_staging_name(user, project, session))


def remount_flags(read_only: bool) -> int:
    """The ``mount(2)`` flags that make a staged bind ``nosuid,nodev`` (and ``ro``)."""
    return MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)


def mount_options(read_only: bool) -> str:
    """:func:`remount_flags` as ``mount -o`` would spell them, for logs and docs."""
    return "bind,remount,nosuid,nodev" + (",ro" if read_only else "")


def refusal(where: str, entry: str, exc: Refused) -> PodfileError:
    """The one sentence for a refused bind: the Podfile entry, what is wrong, the fix."""
    return PodfileError(f"the Podfile's {where} ({entry}) cannot be mounted: the host path "
                        f"{exc.reason}; {exc.fix}")


def open_source(source: str, roots: Sequence[str]) -> int:
    """An ``O_PATH`` descriptor of the directory ``source``, reached from its allowed root
    without following any symlink; the caller closes it.

    The allowed root itself is the admin's and is opened as configured (a symlink in the
    admin's own path is trusted); everything below it is the repository's and the services'.

    Raises:
        Refused: ``source`` is outside every root, or a component below the root is a
            symlink, not a directory, or missing.
    """
    from podspawn.podfile.bind_roots import bind_parts

    found = bind_parts(source, roots)
    if found is None:
        raise Refused("is not under security.allowed_bind_roots",
                      "use a named volume, or ask an administrator to allow its directory")
    root, parts = found
    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"is under the allowed root {root}, which is not a usable directory "
                      f"({os.strerror(exc.errno or 0)})",
                      "an administrator must create it or fix security.allowed_bind_roots"
                      ) from None
    try:
        for depth, part in enumerate(parts):
            try:
                child = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                raise _why(fd, part, "/".join(parts[: depth + 1]), exc) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _why(parent: int, part: str, shown: str, exc: OSError) -> Refused:
    try:
        mode = os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        return Refused(f"passes through a symbolic link ({shown})",
                       "podspawn binds only real directories, so replace the link with a "
                       "directory or bind the directory it points to")
    if mode is None or exc.errno == errno.ENOENT:
        return Refused(f"does not exist (no {shown} under the allowed root)",
                       "an administrator must create the directory, or remove the volume "
                       "from the Podfile")
    return Refused(f"is not a directory ({shown})",
                   "podspawn binds only directories, so bind the directory that holds it")


def check(source: str, roots: Sequence[str]) -> None:
    """What :func:`stage` will check, without mounting (``add-project``'s early answer).

    Raises:
        Refused: as :func:`open_source`.
    """
    os.close(open_source(source, roots))


def stage(source: str, *, policy: BindPolicy, name: str, read_only: bool) -> str:
    """Pin ``source`` and mount it ``nosuid,nodev`` at ``<policy.staging>/<name>``; return
    that path, which is what the engine gets.

    Raises:
        Refused: as :func:`open_source`.
        RuntimeFailure: the staging directory is unsafe or the kernel refused the mount.
    """
    fd = open_source(source, policy.roots)
    try:
        target = _mount_point(policy.staging, name)
        bind_fd(fd, target, read_only)
    finally:
        os.close(fd)
    log.info("staged a host bind", source=source, staging=target,
             options=mount_options(read_only))
    return target


def bind_fd(fd: int, target: str, read_only: bool) -> None:
    """Mount the directory open as ``fd`` at ``target`` (an empty directory of ours) and make
    it ``nosuid,nodev``; on failure nothing stays mounted.

    Raises:
        RuntimeFailure: the kernel refused (podspawn is not root, or no mount support).
    """
    target_fd = os.open(target, _DIR)
    try:
        _mount(f"/proc/self/fd/{fd}", f"/proc/self/fd/{target_fd}", MS_BIND)
    finally:
        os.close(target_fd)
    try:
        mounted = os.open(target, _DIR)
        try:
            _mount(None, f"/proc/self/fd/{mounted}", remount_flags(read_only))
        finally:
            os.close(mounted)
    except BaseException:
        _umount(target)
        raise


def release(staging: str) -> list[str]:
    """Unmount and remove one session's staging directory; return what could not be undone.

    A missing directory is success (nothing was staged, or it was released already).
    """
    try:
        names = os.listdir(staging)
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"{staging}: {exc.strerror}"]
    failures = []
    for name in names:
        path = os.path.join(staging, name)
        try:
            _umount(path)
            os.rmdir(path)
        except OSError as exc:
            failures.append(f"{path}: {exc.strerror}")
    if not failures:
        try:
            os.rmdir(staging)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failures.append(f"{staging}: {exc.strerror}")
    return failures


def reconcile(db_path: str, keep: Callable[[str, str, str], bool]) -> int:
    """Release every session staging directory for which ``keep(user, project, session)``
    is false (``cleanup``: sessions without a row). Returns how many were released.

    ``keep`` should take the user's lock, so that a session being created right now (its
    mounts staged, its row not yet written) is waited for. The release itself needs no lock:
    a staging directory is named by its session id, which is never used again.
    """
    root = staging_root(db_path)
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return 0
    released = 0
    for entry in entries:
        parsed = parse_bind_staging_name(entry)
        if parsed is None:
            log.warning("unknown entry in the bind staging directory left alone", entry=entry)
            continue
        if keep(*parsed):
            continue
        failures = release(os.path.join(root, entry))
        if failures:
            log.error("could not release staged binds", failures="; ".join(failures))
        else:
            log.info("released the staged binds of a gone session", staging=entry)
            released += 1
    return released


# -- the host side ------------------------------------------------------------------------


def _mount_point(staging: str, name: str) -> str:
    """A new, empty mount point ``<staging>/<name>``, every directory above it root-only."""
    root = os.path.dirname(staging)
    target = os.path.join(staging, name)
    try:
        for directory in (root, staging):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass
            info = os.lstat(directory)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() \
                    or info.st_mode & 0o077:
                raise RuntimeFailure(
                    "the bind staging directory is not a private directory of podspawn's; "
                    "an administrator must remove it so podspawn can recreate it",
                    detail=f"{directory}: mode {info.st_mode:o} uid {info.st_uid}",
                )
        os.mkdir(target, 0o700)
    except OSError as exc:
        raise RuntimeFailure(
            "the server could not prepare a companion service's host directory; an "
            "administrator must check the state directory",
            detail=f"{target}: {exc.strerror}",
        ) from exc
    return target


@functools.cache
def _lib() -> ctypes.CDLL:
    """libc's ``mount`` and ``umount2``, loaded on first use (only staging and releasing pay
    for ``ctypes``)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return libc


def _mount(source: str | None, target: str, flags: int) -> None:
    import ctypes

    if _lib().mount(source.encode() if source else None, target.encode(), None, flags, None):
        code = ctypes.get_errno()
        raise RuntimeFailure(
            "the server could not mount a companion service's host directory; an "
            "administrator must check that podspawn runs as root with mount support",
            detail=f"mount({source}, {target}, {flags:#x}): {os.strerror(code)}",
        )


def _umount(target: str) -> None:
    """Detach whatever is mounted at ``target``; not mounted there is success."""
    import ctypes

    for _ in range(8):  # stacked mounts, in case one was ever made twice
        if _lib().umount2(target.encode(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0:
            continue
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOENT):
            return
        raise OSError(code, os.strerror(code), target)
