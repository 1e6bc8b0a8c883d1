"""Where a registered project lives on the server: its checkout and its resolved Podfile.

Both sit in ``projects/`` beside the state database, a root-only directory (0700):

* ``projects/<name>/``: the shallow clone, copied into the image when it is built;
* ``projects/<name>.podfile-<hash>.json``: the Podfile as ``add-project`` or
  ``update-project`` resolved it (``extends`` fetched and merged, validated, within the
  ceilings), named by the hash its image tag carries.

A login reads only that file (:func:`load_resolved`, as plain data: ``podfile.stored``): it
never parses the checkout, never fetches a remote base and never builds, so a base that
changes or vanishes changes nothing until ``update-project``. The file is written
atomically before the config names its hash, and ``update-project`` keeps the previous one,
so a login that read the config just before an update still finds the file it names.

Projects registered by the previous release have no such file. Their first login resolves the
checkout's Podfile without the network, pairs it with the image the config names (built from
that same checkout), and stores it; a remote ``extends`` is refused then, with a sentence
telling the admin to run ``update-project``, which resolves it with the network once.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from podspawn import log, paths
from podspawn.errors import PodfileError, StateError
from podspawn.files import atomic_write
from podspawn.names import validate_project

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig
    from podspawn.podfile import LoadedPodfile

VERSION = 1
_HASH = re.compile(r"[0-9a-f]{12}")
_SUFFIX = ".json"


def projects_root(config: ServerConfig) -> str:
    return paths.projects_dir(paths.state_dir(config.state.db_path))


def checkout_dir(config: ServerConfig, name: str) -> str:
    return os.path.join(projects_root(config), validate_project(name))


def resolved_path(config: ServerConfig, name: str, podfile_hash: str) -> str:
    """``projects/<name>.podfile-<hash>.json``.

    Raises:
        StateError: ``podfile_hash`` is not the 12 hex digits podspawn records.
    """
    if not _HASH.fullmatch(podfile_hash):
        raise StateError(_rerun(name, "has no valid podfile_hash in the config"),
                         detail=f"podfile_hash {podfile_hash!r}")
    return os.path.join(projects_root(config), f"{_prefix(name)}{podfile_hash}{_SUFFIX}")


def store_resolved(config: ServerConfig, name: str, loaded: LoadedPodfile,
                   podfile_hash: str) -> None:
    """Write the resolved Podfile for the image ``podfile_hash`` names, atomically, 0600."""
    data = {
        "version": VERSION,
        "project": name,
        "podfile_hash": podfile_hash,
        "origin": loaded.origin,
        "sources": list(loaded.sources),
        "podfile": loaded.podfile.model_dump(mode="json"),
    }
    os.makedirs(projects_root(config), mode=0o700, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write(resolved_path(config, name, podfile_hash), text.encode(), mode=0o600)


def stored_hashes(config: ServerConfig, name: str) -> list[str]:
    """The hashes of every resolved Podfile stored for ``name``."""
    prefix = _prefix(name)
    try:
        entries = os.listdir(projects_root(config))
    except FileNotFoundError:
        return []
    found = [entry[len(prefix):-len(_SUFFIX)] for entry in entries
             if entry.startswith(prefix) and entry.endswith(_SUFFIX)]
    return sorted(h for h in found if _HASH.fullmatch(h))


def prune_resolved(config: ServerConfig, name: str, *, keep: Collection[str] = ()) -> None:
    """Remove the stored Podfiles of ``name`` except those of the hashes in ``keep``."""
    for podfile_hash in stored_hashes(config, name):
        if podfile_hash not in keep:
            try:
                os.unlink(resolved_path(config, name, podfile_hash))
            except FileNotFoundError:
                pass


def load_resolved(config: ServerConfig, name: str, podfile_hash: str) -> LoadedPodfile:
    """The Podfile stored for the project's current image; nothing is fetched or parsed
    from the checkout, except once for a project of the previous release (see the module).

    Raises:
        StateError: the stored file is missing or unusable; the message names the fix.
        PodfileError: a previous release's project whose Podfile extends a remote base.
    """
    from podspawn.podfile.loaded import LoadedPodfile
    from podspawn.podfile.stored import stored_podfile

    path = resolved_path(config, name, podfile_hash)
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except FileNotFoundError:
        if stored_hashes(config, name):
            raise StateError(_rerun(name, "has lost its stored Podfile"), detail=path) from None
        return _upgrade(config, name, podfile_hash)
    except (OSError, ValueError) as exc:
        raise StateError(_rerun(name, "has an unreadable stored Podfile"),
                         detail=f"{path}: {exc}") from None
    try:
        if data["version"] != VERSION or data["project"] != name or \
                data["podfile_hash"] != podfile_hash:
            raise ValueError(f"written for {data['project']!r} {data['podfile_hash']!r} "
                             f"(version {data['version']!r})")
        if not isinstance(data["podfile"], dict):
            raise TypeError("the podfile is not a mapping")
        return LoadedPodfile(podfile=stored_podfile(data["podfile"]),
                             origin=data["origin"], sources=tuple(data["sources"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(_rerun(name, "has a stored Podfile this podspawn cannot use"),
                         detail=f"{path}: {str(exc)[:500]}") from None


def _upgrade(config: ServerConfig, name: str, podfile_hash: str) -> LoadedPodfile:
    """A project registered by the previous release: resolve its checkout without the
    network, once, and store the result for the image the config already names."""
    from podspawn.podfile import load_podfile

    refusal = PodfileError(
        f"project {name} was registered by an earlier podspawn and its Podfile extends a "
        "remote base, which a login never fetches; an administrator must run: podspawn "
        f"update-project {name}"
    )

    def no_network(url: str) -> str:
        raise refusal

    try:
        loaded = load_podfile(checkout_dir(config, name), fetch=no_network,
                              remote_base_url=config.images.podfiles_url,
                              allowed_bind_roots=config.security.allowed_bind_roots,
                              session_cap_add=config.security.cap_add,
                              service_cap_add=config.security.service_cap_add)
    except PodfileError as exc:
        if exc is refusal:
            log.error("project of an earlier release extends a remote base", project=name,
                      fix=f"podspawn update-project {name}")
            raise
        raise StateError(_rerun(name, "has a Podfile that no longer loads"),
                         detail=exc.message) from None
    store_resolved(config, name, loaded, podfile_hash)
    log.info("stored the resolved Podfile of a project of an earlier release", project=name,
             podfile_hash=podfile_hash)
    return loaded


def _prefix(name: str) -> str:
    return f"{validate_project(name)}.podfile-"


def _rerun(name: str, problem: str) -> str:
    return f"project {name} {problem}; an administrator must run: podspawn update-project {name}"
