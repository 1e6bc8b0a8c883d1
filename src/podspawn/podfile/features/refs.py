"""What a devcontainer.json's ``features`` entry names: a local folder, a tarball or an OCI
artifact, and the options the user gives it.

The three forms of the spec, told apart by how the key starts:

* ``./name`` (or ``../``): a folder relative to the devcontainer.json's folder, which must be
  a sub-folder of the repository's ``.devcontainer/`` (the spec's rule for local Features);
* ``https://host/.../devcontainer-feature-NAME.tgz``: a tarball. Plain ``http://`` is taken
  only for a loopback host (a mirror on the server itself), since nothing else proves the
  bytes came from where the URL says;
* anything else: an OCI reference ``registry/namespace/name[:tag][@sha256:digest]``,
  ``:latest`` when no tag is given.

Identifiers are case-insensitive and kept lowercase, as the spec says. A value of the
``features`` object is an object of options (strings or booleans) or a string, which is the
``version`` option.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from podspawn.errors import PodfileError

Kind = Literal["local", "tarball", "oci"]
Options = Mapping[str, "str | bool"]

#: Where a local Feature must live, as the spec requires.
LOCAL_ROOT = ".devcontainer"
#: The name a Feature tarball must have: ``devcontainer-feature-<id>.tgz``.
TARBALL_RE = re.compile(r"devcontainer-feature-([a-z0-9][a-z0-9._-]*)\.tgz")

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]{1,5})?"
_OCI_RE = re.compile(
    rf"(?P<registry>{_REGISTRY})/(?P<path>{_COMPONENT}(?:/{_COMPONENT})+)"
    r"(?::(?P<tag>[a-z0-9_][a-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """One Feature reference, parsed."""

    key: str
    """The reference as written, lowercased: how the lockfile and messages name it."""
    kind: Kind
    id: str
    """Without version or digest: ``ghcr.io/owner/repo/name``, the URL, or ``./name``;
    what ``installsAfter``, ``overrideFeatureInstallOrder`` and the allowlist match."""
    location: str = ""
    """local: the folder relative to the repository; tarball: the URL; oci: the repository
    path without the registry (``owner/repo/name``)."""
    registry: str = ""
    reference: str = ""
    """oci: the tag or ``sha256:`` digest to fetch."""

    @property
    def short_id(self) -> str:
        """The last part of the id: a Feature's own ``id`` field should equal it."""
        if self.kind == "tarball":
            match = TARBALL_RE.fullmatch(posixpath.basename(urlsplit(self.id).path))
            return match.group(1) if match else ""
        return self.id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class FeatureRequest:
    """A reference and the options asked of it (by the user or a ``dependsOn``)."""

    ref: FeatureRef
    options: Mapping[str, str | bool] = field(default_factory=dict)


def parse_ref(key: str, *, folder: str = LOCAL_ROOT) -> FeatureRef:
    """Parse a Feature reference; ``folder`` is the devcontainer.json's repository folder.

    Raises:
        PodfileError: the reference is of none of the three forms, a local one leaves
            ``.devcontainer/``, or a tarball URL is not https (or loopback http).
    """
    shown = key.strip()[:120]
    text = key.strip().lower()
    if text.startswith(("./", "../")):
        return _local(text, shown, folder)
    if text.startswith(("https://", "http://")):
        return _tarball(text, shown)
    if text.startswith("/"):
        raise PodfileError(f"feature {shown!r} is an absolute path; refer to a local feature "
                           "as ./name, relative to the devcontainer.json")
    match = _OCI_RE.fullmatch(text)
    if match is None:
        raise PodfileError(f"feature {shown!r} is not a local folder (./name), an https "
                           "tarball URL or an OCI reference (registry/namespace/name:tag)")
    registry, path = match.group("registry"), match.group("path")
    digest, tag = match.group("digest"), match.group("tag")
    return FeatureRef(key=text, kind="oci", id=f"{registry}/{path}", location=path,
                      registry=registry, reference=digest or tag or "latest")


def _local(text: str, shown: str, folder: str) -> FeatureRef:
    joined = posixpath.normpath(posixpath.join(folder, text))
    if "\\" in text or "\0" in text or not joined.startswith(LOCAL_ROOT + "/"):
        raise PodfileError(f"feature {shown!r} is not inside {LOCAL_ROOT}/; a local feature "
                           f"must be a sub-folder of the repository's {LOCAL_ROOT} folder")
    return FeatureRef(key=text, kind="local", id=text.rstrip("/"), location=joined)


def _tarball(text: str, shown: str) -> FeatureRef:
    parts = urlsplit(text)
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise PodfileError(f"feature {shown!r} must be a plain URL with a host and without "
                           "credentials")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise PodfileError(f"feature {shown!r} uses http; a tarball feature must be fetched "
                           "over https (http is accepted only from this server's loopback)")
    if not TARBALL_RE.fullmatch(posixpath.basename(parts.path)):
        raise PodfileError(f"feature {shown!r}: a tarball feature must be named "
                           "devcontainer-feature-<id>.tgz")
    url = parts._replace(fragment="").geturl()
    return FeatureRef(key=text, kind="tarball", id=url, location=url)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is this machine's loopback."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_options(value: Any, *, key: str) -> dict[str, str | bool]:
    """The options of one ``features`` value (or ``dependsOn`` value).

    Raises:
        PodfileError: the value is not an object or a string, or an option is not a string,
            number or boolean.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        return {"version": value}
    if isinstance(value, bool):
        return {}  # the old "feature": true form means "with its defaults"
    if not isinstance(value, Mapping):
        raise PodfileError(f"feature {key!r}: its value must be an object of options or a "
                           "version string")
    options: dict[str, str | bool] = {}
    for name, option in value.items():
        if isinstance(option, bool | str):
            options[str(name)] = option
        elif isinstance(option, int | float):
            options[str(name)] = str(option)
        else:
            raise PodfileError(f"feature {key!r}: option {str(name)[:60]!r} must be a string "
                               "or a boolean")
    return options


def parse_features(config: Mapping[str, Any], *, folder: str = LOCAL_ROOT
                   ) -> list[FeatureRequest]:
    """The ``features`` of a devcontainer.json, in the order written (empty when none).

    Raises:
        PodfileError: ``features`` is not an object, or an entry is unusable.
    """
    section = config.get("features")
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise PodfileError("features must be an object of feature references")
    requests: list[FeatureRequest] = []
    seen: set[str] = set()
    for key, value in section.items():
        ref = parse_ref(str(key), folder=folder)
        if ref.key in seen:
            raise PodfileError(f"feature {ref.key!r} is listed twice (ids are "
                               "case-insensitive); keep one")
        seen.add(ref.key)
        requests.append(FeatureRequest(ref=ref, options=parse_options(value, key=ref.key)))
    return requests


def parse_install_order(config: Mapping[str, Any]) -> list[str]:
    """``overrideFeatureInstallOrder``: ids without version, lowercased.

    Raises:
        PodfileError: it is not an array of strings.
    """
    value = config.get("overrideFeatureInstallOrder")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PodfileError("overrideFeatureInstallOrder must be an array of feature ids")
    return [strip_version(item.strip().lower()) for item in value]


def strip_version(identifier: str) -> str:
    """``registry/ns/name`` of ``registry/ns/name:tag@digest``; other forms unchanged."""
    text = identifier.lower()
    if text.startswith(("./", "../", "http://", "https://")):
        return text.rstrip("/")
    text = text.split("@", 1)[0]
    head, _, last = text.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
