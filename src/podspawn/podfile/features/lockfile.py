"""``devcontainer-lock.json``: the digests a repository pins its Features to.

It sits next to the devcontainer.json and holds, per Feature reference (lowercase, as
written), ``resolved`` (an OCI Feature's ``id@sha256:...``, a tarball's URL), ``version``
and ``integrity`` (``sha256:`` and the hex digest: of an OCI Feature's manifest, of a
tarball's bytes). An OCI Feature with a pinned ``resolved`` is fetched by that digest, not by
its tag; whatever arrives must hash to ``integrity``, or the build is refused naming the
Feature. A Feature the lockfile does not list is taken as fetched (trust on first use, as
the reference CLI does without ``--frozen-lockfile``); local Features are never listed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.devcontainer import read_devcontainer
from podspawn.podfile.features.refs import FeatureRef

LOCKFILE_NAME = "devcontainer-lock.json"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class LockEntry:
    resolved: str = ""
    integrity: str = ""
    version: str = ""

    @property
    def pinned_digest(self) -> str:
        """The ``sha256:`` digest ``resolved`` pins an OCI Feature to, or empty."""
        _, at, digest = self.resolved.rpartition("@")
        return digest if at and _DIGEST.fullmatch(digest) else ""


def read_lockfile(folder: str | os.PathLike[str], *, display: str = LOCKFILE_NAME
                  ) -> dict[str, LockEntry]:
    """The entries of ``folder``'s lockfile by lowercase reference; empty when it has none.

    Raises:
        PodfileError: the file is not JSON(C) or an entry is malformed.
    """
    path = os.path.join(folder, LOCKFILE_NAME)
    if not os.path.isfile(path):
        return {}
    return parse_lockfile(read_devcontainer(path, display=display), display=display)


def parse_lockfile(data: Mapping[str, Any], *, display: str = LOCKFILE_NAME
                   ) -> dict[str, LockEntry]:
    """Check a parsed lockfile (see :func:`read_lockfile`)."""
    features = data.get("features", {})
    if not isinstance(features, Mapping):
        raise PodfileError(f"{display}: features must be an object")
    entries: dict[str, LockEntry] = {}
    for key, raw in features.items():
        if not isinstance(raw, Mapping) or not all(
                isinstance(raw.get(name, ""), str) for name in ("resolved", "integrity",
                                                                "version")):
            raise PodfileError(f"{display}: the entry of feature {str(key)[:120]!r} must be an "
                               "object of strings (resolved, integrity, version)")
        integrity = str(raw.get("integrity", "")).lower()
        if integrity and not _DIGEST.fullmatch(integrity):
            raise PodfileError(f"{display}: feature {str(key)[:120]!r} has an integrity that is "
                               "not sha256: and 64 hex digits")
        entries[str(key).lower()] = LockEntry(resolved=str(raw.get("resolved", "")),
                                              integrity=integrity,
                                              version=str(raw.get("version", "")))
    return entries


def check_locked(ref: FeatureRef, entry: LockEntry | None, digest: str) -> None:
    """Refuse a Feature whose content does not hash to what the lockfile pins.

    ``digest`` is ``sha256:<hex>`` of what was fetched (an OCI manifest, a tarball).

    Raises:
        PodfileError: naming the Feature and both digests.
    """
    if entry is None:
        return
    if entry.resolved and ref.kind == "oci" and not entry.resolved.lower().startswith(
            ref.id + "@"):
        raise PodfileError(f"feature {ref.key!r}: {LOCKFILE_NAME} resolves it to "
                           f"{entry.resolved[:120]!r}, another feature; update the lockfile")
    if entry.resolved and ref.kind == "tarball" and entry.resolved.lower() != ref.id:
        raise PodfileError(f"feature {ref.key!r}: {LOCKFILE_NAME} resolves it to "
                           f"{entry.resolved[:120]!r}, another URL; update the lockfile")
    if entry.integrity and entry.integrity != digest:
        raise PodfileError(f"feature {ref.key!r} does not match {LOCKFILE_NAME}: it has "
                           f"digest {digest}, the lockfile pins {entry.integrity}; if the "
                           "change is intended, update the lockfile")
