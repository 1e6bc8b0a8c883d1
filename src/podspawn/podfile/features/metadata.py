"""A Feature's ``devcontainer-feature.json``: its id, options and what it asks of the
container.

Only what podspawn acts on is kept; the rest (names, descriptions, ``customizations``...) is
for editors. Every field comes from the Feature's author, so types are checked here and a
wrong one is refused by the Feature's name and the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.devcontainer import parse_jsonc

#: The metadata file at the top of every Feature.
METADATA_FILE = "devcontainer-feature.json"
#: The script every Feature runs as root to install itself.
INSTALL_FILE = "install.sh"
#: A Feature's lifecycle hooks, in the order a container's life runs them.
HOOK_KEYS = ("onCreateCommand", "updateContentCommand", "postCreateCommand",
             "postStartCommand", "postAttachCommand")
_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FeatureOption:
    type: str
    default: str | bool
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeatureMetadata:
    id: str
    version: str
    options: Mapping[str, FeatureOption] = field(default_factory=dict)
    container_env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[str | Mapping[str, Any], ...] = ()
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    privileged: bool = False
    init: bool = False
    entrypoint: str = ""
    depends_on: Mapping[str, Any] = field(default_factory=dict)
    """Reference -> options, like the ``features`` object."""
    installs_after: tuple[str, ...] = ()
    legacy_ids: tuple[str, ...] = ()
    hooks: Mapping[str, Any] = field(default_factory=dict)
    """Lifecycle hook key -> its command, in any of the three forms."""


def read_metadata(path: str, *, feature: str) -> FeatureMetadata:
    """Read and check the ``devcontainer-feature.json`` at ``path``.

    Raises:
        PodfileError: naming ``feature``: missing, too large, not JSON, or a key of the
            wrong type.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError:
        raise PodfileError(f"feature {feature!r} has no readable {METADATA_FILE}") from None
    if len(data) > _MAX_BYTES:
        raise PodfileError(f"feature {feature!r}: its {METADATA_FILE} is too large")
    try:
        raw = parse_jsonc(data.decode("utf-8-sig"), display=METADATA_FILE)
    except (UnicodeDecodeError, PodfileError) as exc:
        why = exc.message if isinstance(exc, PodfileError) else "not UTF-8"
        raise PodfileError(f"feature {feature!r}: {why}") from None
    return parse_metadata(raw, feature=feature)


def parse_metadata(raw: Any, *, feature: str) -> FeatureMetadata:
    """Check a parsed ``devcontainer-feature.json`` (see :func:`read_metadata`)."""

    def fail(key: str, what: str) -> PodfileError:
        return PodfileError(f"feature {feature!r}: {METADATA_FILE} {key} {what}")

    if not isinstance(raw, Mapping):
        raise fail("", "must be a JSON object")
    ident = raw.get("id")
    if not isinstance(ident, str) or not ident:
        raise fail("id", "is missing")
    version = raw.get("version", "")
    if not isinstance(version, str):
        raise fail("version", "must be a string")

    def strings(key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise fail(key, "must be an array of strings")
        return tuple(value)

    def mapping(key: str) -> Mapping[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, Mapping):
            raise fail(key, "must be an object")
        return value

    env = mapping("containerEnv")
    if not all(isinstance(value, str) for value in env.values()):
        raise fail("containerEnv", "values must be strings")
    mounts = raw.get("mounts", [])
    if not isinstance(mounts, list) or not all(isinstance(m, str | Mapping) for m in mounts):
        raise fail("mounts", "must be an array of strings or objects")
    entrypoint = raw.get("entrypoint", "")
    if not isinstance(entrypoint, str):
        raise fail("entrypoint", "must be a string")
    flags = {}
    for key in ("privileged", "init"):
        flags[key] = raw.get(key, False)
        if not isinstance(flags[key], bool):
            raise fail(key, "must be true or false")
    return FeatureMetadata(
        id=ident.lower(), version=version,
        options={str(name): _option(name, value, fail)
                 for name, value in mapping("options").items()},
        container_env={str(name): value for name, value in env.items()},
        mounts=tuple(mounts), cap_add=strings("capAdd"), security_opt=strings("securityOpt"),
        privileged=flags["privileged"], init=flags["init"], entrypoint=entrypoint,
        depends_on=mapping("dependsOn"), installs_after=strings("installsAfter"),
        legacy_ids=strings("legacyIds"),
        hooks={key: raw[key] for key in HOOK_KEYS if raw.get(key) is not None},
    )


def _option(name: str, value: Any, fail: Any) -> FeatureOption:
    if not isinstance(value, Mapping):
        raise fail(f"options.{name}", "must be an object")
    kind = value.get("type", "string")
    if kind not in ("string", "boolean"):
        raise fail(f"options.{name}.type", "must be string or boolean")
    default = value.get("default", False if kind == "boolean" else "")
    if not isinstance(default, str | bool):
        default = json.dumps(default)
    enum = value.get("enum", [])
    if not isinstance(enum, list):
        raise fail(f"options.{name}.enum", "must be an array")
    return FeatureOption(type=kind, default=default, enum=tuple(str(item) for item in enum))
