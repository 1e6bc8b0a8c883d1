"""The devcontainer.json keys about the container rather than the image: users, storage,
privileges, ``runArgs``, host requirements, editor extensions and ``shutdownAction``.

podspawn runs every session as the login user with their host uid, on a shared server, so
these keys are mapped onto what a Podfile can say and held to the admin's policy like any
Podfile; what would weaken isolation is refused by name (``privileged``, ``securityOpt``,
most of ``runArgs``), and what has no meaning on a server is dropped with a warning.

==============================  ==============================================================
devcontainer.json               Podfile
==============================  ==============================================================
``remoteUser``,                 ``image_user``: that image user becomes the login user (its
``containerUser``               home and tools stay usable); ``root`` cannot be honoured
``mounts``                      ``volumes``: ``type=volume`` a named volume of the project,
                                ``type=bind`` a host path (only under
                                ``security.allowed_bind_roots``)
``capAdd``                      ``cap_add`` (only what ``security.cap_add`` grants)
``privileged``,                 refused
``securityOpt``
``init``                        ignored with a note
``runArgs``                     :mod:`podspawn.podfile.run_args`
``hostRequirements``            ``host_requirements``
``customizations.vscode.        ``extensions``
extensions``
``shutdownAction``              ignored with a note: sessions follow podspawn's session mode
==============================  ==============================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.run_args import parse_run_args

#: The keys this module converts; :mod:`podspawn.podfile.devcontainer` leaves them to it.
KEYS = frozenset({"remoteUser", "containerUser", "mounts", "capAdd", "privileged",
                  "securityOpt", "init", "runArgs", "hostRequirements", "shutdownAction"})

_VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


def convert_keys(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The Podfile fields these keys give, and the warnings for what was dropped.

    The ``env`` and ``resources`` returned are defaults that the rest of the config
    (``containerEnv``...) overrides.

    Raises:
        PodfileError: a key asks for what podspawn refuses; the sentence names it.
    """
    out: dict[str, Any] = {}
    warnings: list[str] = []
    if config.get("privileged") is True:
        raise PodfileError("privileged is refused: a privileged container could take over the "
                           "server; remove it from devcontainer.json")
    security_opt = config.get("securityOpt")
    if security_opt:
        first = security_opt[0] if isinstance(security_opt, list) else security_opt
        raise PodfileError(f"securityOpt {first!r} is refused: podspawn sets the container's "
                           "security options itself; remove it from devcontainer.json")
    _users(config, out, warnings)
    folder = config.get("workspaceFolder") if isinstance(config.get("workspaceFolder"),
                                                          str) else None
    volumes = [v for v in (mount_volume(entry, folder, warnings) for entry in
                           _list(config, "mounts")) if v]
    caps = [_cap(value) for value in _list(config, "capAdd")]
    if "runArgs" in config:
        args = parse_run_args(config["runArgs"])
        volumes += [_bind_arg(value) for value in args.volumes]
        volumes += [v for v in (mount_volume(value, folder, warnings)
                                for value in args.mounts) if v]
        caps += args.cap_add
        if args.env:
            out["env"] = args.env
        resources = {key: value for key, value in
                     (("memory", args.memory), ("cpus", args.cpus)) if value is not None}
        if resources:
            out["resources"] = resources
        if args.ignored:
            warnings.append(f"runArgs {', '.join(dict.fromkeys(args.ignored))} ignored: podspawn "
                            "sets these itself")
    if volumes:
        out["volumes"] = list(dict.fromkeys(volumes))
    if caps:
        out["cap_add"] = list(dict.fromkeys(caps))
    if config.get("init") is True:
        warnings.append("init is ignored: the session container always runs under an init")
    if "shutdownAction" in config:
        warnings.append("shutdownAction is ignored: sessions end after podspawn's grace period "
                        "(see the Podfile's mode)")
    host = _host_requirements(config.get("hostRequirements"), warnings)
    if host:
        out["host_requirements"] = host
    extensions = _extensions(config.get("customizations"), warnings)
    if extensions:
        out["extensions"] = extensions
    return out, warnings


def _list(config: Mapping[str, Any], key: str) -> list[Any]:
    value = config.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PodfileError(f"{key} must be an array")
    return value


def _users(config: Mapping[str, Any], out: dict[str, Any], warnings: list[str]) -> None:
    remote, container = config.get("remoteUser"), config.get("containerUser")
    for key, value in (("remoteUser", remote), ("containerUser", container)):
        if value is not None and not isinstance(value, str):
            raise PodfileError(f"{key} must be a user name")
    user = remote or container
    if not user:
        return
    if remote and container and remote != container:
        warnings.append(f"containerUser {container} is not used: every process of a session runs "
                        f"as the login user, who replaces remoteUser {remote}")
    if user == "root" or user.startswith("${"):
        warnings.append(f"{'remoteUser' if remote else 'containerUser'} {user} cannot be "
                        "honoured: sessions run as the login user (with sudo), never as root")
        return
    out["image_user"] = user


def mount_volume(entry: Any, folder: str | None, warnings: list[str]) -> str | None:
    """One ``mounts`` entry as a Podfile volume, or None (dropped with a warning)."""
    if isinstance(entry, str):
        fields: dict[str, str] = {}
        for part in entry.split(","):
            key, _, value = part.partition("=")
            fields[key.strip().lower()] = value.strip() if _ else "true"
        shown = entry
    elif isinstance(entry, Mapping):
        fields = {str(k).lower(): str(v) for k, v in entry.items()}
        shown = ",".join(f"{k}={v}" for k, v in entry.items())
    else:
        raise PodfileError("mounts entries must be strings or objects")
    kind = fields.get("type", "volume")
    source = fields.get("source", fields.get("src", ""))
    target = fields.get("target", fields.get("destination", fields.get("dst", "")))
    read_only = fields.get("readonly", fields.get("ro", "false")) in ("true", "1", "")
    if kind not in ("volume", "bind"):
        raise PodfileError(f"mount {shown!r} is refused: type {kind} is not supported; use "
                           "type=volume or type=bind")
    filled = _fill(target, folder)
    source = source.replace("${devcontainerId}", "devcontainer")
    if filled is None or "${" in source:
        warnings.append(f"mount {shown!r} was left out: it uses a variable of the editor's "
                        "machine, which has no meaning on a server")
        return None
    target = filled
    if not source or not target:
        raise PodfileError(f"mount {shown!r} needs both a source and a target")
    if kind == "bind" and not source.startswith("/"):
        raise PodfileError(f"mount {shown!r}: a bind source must be an absolute host path")
    if kind == "volume" and source.startswith("/"):
        raise PodfileError(f"mount {shown!r}: a volume source must be a name, not a path")
    return f"{source}:{target}" + (":ro" if read_only else "")


def _fill(target: str, folder: str | None) -> str | None:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "containerWorkspaceFolder" and folder:
            return folder
        raise LookupError

    try:
        return _VARIABLE_RE.sub(replace, target)
    except LookupError:
        return None


def _bind_arg(value: str) -> str:
    """``-v source:target[:ro]`` as a Podfile volume (the Podfile checks its form)."""
    parts = value.split(":")
    if len(parts) == 3 and parts[2] == "rw":
        parts = parts[:2]
    return ":".join(parts)


def _cap(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise PodfileError("capAdd entries must be capability names such as SYS_PTRACE")
    return value.upper().removeprefix("CAP_")


def _host_requirements(value: Any, warnings: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PodfileError("hostRequirements must be an object")
    out: dict[str, Any] = {}
    cpus = value.get("cpus")
    if isinstance(cpus, int) and not isinstance(cpus, bool) and cpus > 0:
        out["cpus"] = cpus
    for key in ("memory", "storage"):
        raw = value.get(key)
        if raw is None:
            continue
        match = _SIZE_RE.match(str(raw))
        if not match:
            raise PodfileError(f"hostRequirements.{key} {raw!r} is not a size such as 8gb")
        out[key] = _size(float(match.group(1)), (match.group(2) or "").lower())
    gpu = value.get("gpu")
    if gpu is True or isinstance(gpu, Mapping):
        out["gpu"] = True
    elif gpu == "optional":
        warnings.append("hostRequirements.gpu optional: the session gets no GPU")
    return out


def _size(number: float, unit: str) -> str:
    """A devcontainer size (``4.5gb``) as a Podfile one, exact in the largest whole unit."""
    if not unit:
        return str(int(number))
    kib = number * 1024 ** "kmgt".index(unit)
    for suffix, scale in (("g", 1024**2), ("m", 1024), ("k", 1)):
        if kib % scale == 0:
            return f"{int(kib // scale)}{suffix}"
    return f"{int(kib)}k"


def _extensions(customizations: Any, warnings: list[str]) -> list[str]:
    vscode = customizations.get("vscode") if isinstance(customizations, Mapping) else None
    listed = vscode.get("extensions") if isinstance(vscode, Mapping) else None
    if not isinstance(listed, list):
        return []
    from podspawn.podfile.model import EXTENSION_PATTERN

    kept = []
    for item in listed:
        if isinstance(item, str) and re.fullmatch(EXTENSION_PATTERN, item):
            kept.append(item)
        else:
            warnings.append(f"customizations.vscode.extensions entry {item!r} is not an "
                            "extension id (publisher.name); skipped")
    return list(dict.fromkeys(kept))
