"""Where podspawn's files live on the server, in one place.

The login path imports this module, so it holds only constants and string joins. The
directories themselves come from the config (``auth.key_dir``, ``state.db_path``); what is
derived from them is spelt here, once, for the services and the entry points alike. Lock
files are named in :mod:`podspawn.locks`.
"""

from __future__ import annotations

import os

#: Read when neither ``--config`` nor ``PODSPAWN_CONFIG`` names a file.
DEFAULT_CONFIG_PATH = "/etc/podspawn/config.yaml"
#: Where ``server-setup`` writes the sudoers rule for ``spawn``.
SUDOERS_DIR = "/etc/sudoers.d"


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get("PODSPAWN_CONFIG") or DEFAULT_CONFIG_PATH


def key_file(key_dir: str, user: str) -> str:
    """A user's file in the key store, which ``auth-keys`` serves. ``user`` must be valid."""
    return os.path.join(key_dir, user)


def state_dir(db_path: str) -> str:
    """The root-only directory of the state database, beside which podspawn keeps the rest::

        <state dir>/state.db        the database (``state.db_path``)
        <state dir>/hostkeys/USER   each user's pod host key (and ``USER.pub``)
        <state dir>/projects/       checkouts and stored resolved Podfiles
        <state dir>/credentials/    repository credentials split off at add-project
        <state dir>/binds/          the staged host binds of running sessions
        <state dir>/features/       fetched devcontainer Features, by digest
    """
    return os.path.dirname(db_path)


def host_key_paths(state_dir: str, user: str) -> tuple[str, str]:
    """(private, public) paths of ``user``'s pod host key. ``user`` must be valid."""
    private = os.path.join(state_dir, "hostkeys", user)
    return private, private + ".pub"


def projects_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "projects")


def credentials_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "credentials")


def binds_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "binds")


def features_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "features")
