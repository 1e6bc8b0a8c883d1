"""Persistent homes: a host directory per (user, project) that outlives the container.

Layout under ``state.homes_dir`` (root-only, 0700)::

    <homes_dir>/<user>/            root, 0700, holds the marker of this layout
    <homes_dir>/<user>/<project>   the home of the user's sessions of that project
    <homes_dir>/<user>/_default    the home of their default session (no project)

One home per project, not one per user, because a home is written by whatever the project's
repository runs in it (``on_start``, dotfiles, tools it installs): a home shared by all of a
user's projects would let one repository plant a ``.bashrc`` that runs in every other one.
``_default`` cannot be a project's name, since those start with a letter or digit.

The previous release kept one home per user directly at ``<homes_dir>/<user>``; the first
session after the upgrade moves it to ``_default`` (it was the only home those sessions had),
with renames only, so a crash midway leaves either layout, never a mix.
"""

from __future__ import annotations

import os

from podspawn.config.schema import ServerConfig
from podspawn.names import validate_project, validate_user

DEFAULT_HOME = "_default"
LAYOUT_MARK = ".podspawn-homes-v2"


def home_path(config: ServerConfig, user: str, project: str, *, uid: int, gid: int) -> str:
    """The persistent home of (user, project), made on first use for ``uid``:``gid``.

    The session's setup in the container also gives it (and what the previous release left
    in it, owned by uid 1000) to the user's uid; here it only has to exist.
    """
    homes = config.state.homes_dir
    _private_dir(homes)
    base = os.path.join(homes, validate_user(user))
    _migrate(homes, user, base)
    if not os.path.isdir(base):
        _private_dir(base)
        _mark(base)
    path = os.path.join(base, validate_project(project) if project else DEFAULT_HOME)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chown(path, uid, gid)
    return path


def user_homes(config: ServerConfig, user: str) -> str:
    """Where all of a user's homes live (what ``remove-user --purge`` deletes)."""
    return os.path.join(config.state.homes_dir, validate_user(user))


def _private_dir(path: str) -> None:
    """Root-owned 0700: root in a container can leave setuid programs in a home and open it
    up, so no host account may traverse to one."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != 0 or st.st_gid != 0:
        os.chown(path, 0, 0, follow_symlinks=False)
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)


def _migrate(homes: str, user: str, base: str) -> None:
    """Move a previous release's per-user home into this layout's ``_default``."""
    staging = os.path.join(homes, f".{user}.migrating")
    if os.path.isdir(staging) and not os.path.lexists(base):
        _mark(staging)  # a crash between the two renames below: finish the move
        os.rename(staging, base)
        return
    if os.path.islink(base) or not os.path.isdir(base):
        return
    if os.path.exists(os.path.join(base, LAYOUT_MARK)):
        _private_dir(base)
        return
    os.makedirs(staging, mode=0o700, exist_ok=True)
    os.chown(staging, 0, 0)
    os.rename(base, os.path.join(staging, DEFAULT_HOME))
    _mark(staging)
    os.rename(staging, base)


def _mark(directory: str) -> None:
    with open(os.path.join(directory, LAYOUT_MARK), "w", encoding="utf-8") as fh:
        fh.write("podspawn persistent homes, one per project\n")
