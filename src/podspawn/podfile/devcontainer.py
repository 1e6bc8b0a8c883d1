"""Use a project's devcontainer.json when it has no Podfile: convert it to a Podfile dict.

Looked for as ``.devcontainer/devcontainer.json``, then ``.devcontainer.json``, and read as
JSON with comments (``//`` and ``/* */``) and trailing commas, like the editors that write it.

What is converted:

==============================  ==============================================================
devcontainer.json               Podfile
==============================  ==============================================================
``image``                       ``base`` (``ubuntu:24.04`` with a warning when absent)
``dockerComposeFile``,          the service's image or build, its env, and the other
``service``, ``runServices``    services as companions (:mod:`podspawn.podfile.compose`)
``build``, ``dockerFile``,      ``base`` is the image built on the server from that
``context``                     Dockerfile and context (``podspawn/build:<digest>``, see
                                :mod:`podspawn.podfile.build_context`)
``containerEnv``, ``remoteEnv`` ``env``, remoteEnv winning; ``${containerEnv:X}`` becomes
                                ``${X}`` (``${X:-default}`` with a default); an entry using
                                ``${localEnv:...}`` or another variable is dropped with a
                                warning: on a server, "local" would be the server's environment
``forwardPorts``                ``ports.expose`` (numbers only; ``"host:port"`` is skipped)
``workspaceFolder``             ``workspace``
``onCreateCommand``,            ``on_create``, run in this order, each only if the one before
``updateContentCommand``,       succeeded
``postCreateCommand``
``postStartCommand``,           ``on_start``; postAttach runs once per session start, not on
``postAttachCommand``           every attach (with a warning)
==============================  ==============================================================

A lifecycle command keeps the meaning the spec gives each of its three forms (the Go tool
joined arrays and objects with ``&&``, which is wrong for both):

* a string is a shell command line, used as is;
* an array is one program and its arguments, run without a shell, so it is quoted with
  ``shlex.join`` and no word is reinterpreted;
* an object holds named commands (each a string or an array) that run in parallel: each in a
  background subshell, then all are waited for, and the step fails if any of them failed.

``features`` and ``overrideFeatureInstallOrder`` are installed on the server when the project
is registered (:mod:`podspawn.podfile.features`, :mod:`podspawn.services.features`).

The container keys (``remoteUser``, ``mounts``, ``runArgs``, ``hostRequirements``...) are
converted by :mod:`podspawn.podfile.devcontainer_keys`. Every other key is reported in the
returned warnings by name; ``name``, ``customizations`` and ``$schema`` are ignored quietly,
since they only concern editors.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.devcontainer_keys import KEYS as CONTAINER_KEYS
from podspawn.podfile.devcontainer_keys import convert_keys

#: Where a devcontainer config is looked for in a project directory, in this order.
DEVCONTAINER_NAMES = (".devcontainer/devcontainer.json", ".devcontainer.json")
#: The base used when a devcontainer.json names no image.
DEFAULT_BASE = "ubuntu:24.04"

_MAX_BYTES = 1024 * 1024
_CREATE_KEYS = ("onCreateCommand", "updateContentCommand", "postCreateCommand")
_START_KEYS = ("postStartCommand", "postAttachCommand")
_CONVERTED = frozenset(
    {"image", "containerEnv", "remoteEnv", "forwardPorts", "workspaceFolder", "build",
     "dockerFile", "dockerfile", "context", "dockerComposeFile", "service", "runServices",
     "features", "overrideFeatureInstallOrder"}
    | set(_CREATE_KEYS)
    | set(_START_KEYS)
    | CONTAINER_KEYS
)
_QUIET = frozenset({"name", "customizations", "$schema"})
_BUILD_KEYS = ("build", "dockerFile", "dockerfile")
_VARIABLE_RE = re.compile(r"\$\{([A-Za-z]+)(?::([^}]*))?\}")
_FOLDER_VARIABLES = frozenset(
    {
        "localWorkspaceFolder", "containerWorkspaceFolder", "localWorkspaceFolderBasename",
        "containerWorkspaceFolderBasename", "devcontainerId",
    }
)


def find_devcontainer(directory: str | os.PathLike[str]) -> Path | None:
    """The project's devcontainer config, or None."""
    for name in DEVCONTAINER_NAMES:
        candidate = Path(directory, name)
        if candidate.is_file():
            return candidate
    return None


def load_devcontainer(
    path: str | os.PathLike[str], *, display: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Read and convert a devcontainer.json: the Podfile dict and the warnings.

    Raises:
        PodfileError: the file cannot be read, is not JSON(C), or cannot be converted.
    """
    shown = display or Path(path).name
    config = read_devcontainer(path, display=shown)
    try:
        return convert_devcontainer(config)
    except PodfileError as exc:
        raise PodfileError(f"{shown}: {exc.message}") from None


def read_devcontainer(
    path: str | os.PathLike[str], *, display: str | None = None
) -> dict[str, Any]:
    """Read a devcontainer.json as a dict.

    Raises:
        PodfileError: the file cannot be read, is not JSON(C), or is not an object.
    """
    file = Path(path)
    shown = display or file.name
    try:
        with file.open("rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise PodfileError(f"{shown} cannot be read ({exc.strerror or 'I/O error'})") from None
    if len(data) > _MAX_BYTES:
        raise PodfileError(f"{shown} is larger than {_MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PodfileError(f"{shown} is not UTF-8 text") from None
    config = parse_jsonc(text, display=shown)
    if not isinstance(config, dict):
        raise PodfileError(f"{shown}: the top level must be a JSON object")
    return config


def parse_jsonc(text: str, *, display: str = "devcontainer.json") -> Any:
    """Parse JSON that may contain ``//`` and ``/* */`` comments and trailing commas.

    Raises:
        PodfileError: the text is not valid JSON once comments and trailing commas are gone.
    """
    try:
        return json.loads(_strip_trailing_commas(_strip_comments(text)))
    except json.JSONDecodeError as exc:
        raise PodfileError(
            f"{display}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise PodfileError(f"{display}: {exc}") from None


def convert_devcontainer(
    config: Mapping[str, Any], *, default_base: str = DEFAULT_BASE, built_base: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """Map a parsed devcontainer.json onto a Podfile dict, plus warnings for what was lost.

    ``built_base`` is the image its ``build`` section gives (the caller builds it). The dict
    is not validated; :func:`podspawn.podfile.load.validate` does that.

    Raises:
        PodfileError: the config uses Compose, builds its image with no ``built_base``
            given, or a lifecycle command has no usable form.
    """
    podfile, warnings = convert_keys(config)  # container keys: devcontainer_keys
    image = config.get("image")
    if isinstance(image, str) and image:
        podfile["base"] = image
        warnings.extend(f"{key} is ignored, since image is set" for key in _BUILD_KEYS
                        if key in config)
    elif "dockerComposeFile" in config:
        if not built_base:  # the caller reads the Compose files (podfile.compose)
            raise PodfileError("it uses Docker Compose; load it with its repository so the "
                               "Compose files can be read")
        podfile["base"] = built_base
    elif any(key in config for key in _BUILD_KEYS):
        if not built_base:
            raise PodfileError("it builds its image; load it with its repository so the "
                               "Dockerfile and context can be read")
        podfile["base"] = built_base
    else:
        podfile["base"] = default_base
        warnings.append(f"it names no image; using {default_base}")

    env = {**podfile.get("env", {}), **_convert_env(config, warnings)}
    if env:
        podfile["env"] = env
    ports = _convert_ports(config.get("forwardPorts"), warnings)
    if ports:
        podfile["ports"] = {"expose": ports}
    folder = config.get("workspaceFolder")
    if isinstance(folder, str) and folder:
        podfile["workspace"] = folder

    on_create = _phases(config, _CREATE_KEYS, warnings)
    if on_create:
        podfile["on_create"] = on_create
    on_start = _phases(config, _START_KEYS, warnings)
    if on_start:
        podfile["on_start"] = on_start
    if "postAttachCommand" in config:
        warnings.append("postAttachCommand runs once when a session starts, not on every attach")

    warnings.extend(_unsupported(config))
    return podfile, warnings


def _unsupported(config: Mapping[str, Any]) -> list[str]:
    warnings = []
    for key in config:
        if key in _CONVERTED or key in _QUIET:
            continue
        if key == "initializeCommand":
            warnings.append(
                "initializeCommand is not run: it would run on the server, not in the container"
            )
        else:
            warnings.append(f"{key} is not supported and was ignored")
    return warnings


def command_script(value: Any, *, key: str = "command") -> str | None:
    """One lifecycle command as a shell script, or None when it is empty.

    A string is used as is, an array is quoted word by word (no shell reinterprets it), and
    an object's commands run in parallel and must all succeed.

    Raises:
        PodfileError: the value is none of these forms.
    """
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        return _exec_form(value, key)
    if isinstance(value, Mapping):
        scripts = []
        for name, entry in value.items():
            if isinstance(entry, list):
                script = _exec_form(entry, f"{key}.{name}")
            elif isinstance(entry, str):
                script = entry if entry.strip() else None
            else:
                raise PodfileError(f"{key}.{name} must be a string or an array of strings")
            if script is not None:
                scripts.append(script)
        if len(scripts) <= 1:
            return scripts[0] if scripts else None
        starts = "; ".join(f"{_group(script)} & _ps{n}=$!" for n, script in enumerate(scripts))
        waits = " ".join(f'wait "$_ps{n}" || _rc=1;' for n in range(len(scripts)))
        return f'{starts}; _rc=0; {waits} [ "$_rc" -eq 0 ]'
    if value is None:
        return None
    raise PodfileError(f"{key} must be a string, an array of strings or an object")


def _exec_form(items: list[Any], key: str) -> str | None:
    if not all(isinstance(item, str | int | float) for item in items) or any(
        isinstance(item, bool) for item in items
    ):
        raise PodfileError(f"{key}: every item of an array command must be a string")
    words = [str(item) for item in items]
    return shlex.join(words) if words else None


def _phases(config: Mapping[str, Any], keys: tuple[str, ...], warnings: list[str]) -> str | None:
    scripts = []
    for key in keys:
        if key in config:
            script = command_script(config[key], key=key)
            if script is not None:
                scripts.append(script)
    return join_phases(scripts)


def join_phases(scripts: list[str]) -> str | None:
    """Scripts run one after the other, each only if the one before succeeded."""
    if len(scripts) <= 1:
        return scripts[0] if scripts else None
    return " && ".join(_group(script) for script in scripts)


def _group(script: str) -> str:
    """``script`` in a subshell; on its own lines when a ``#`` comment could eat the ``)``."""
    if "#" in script or "\n" in script:
        return f"(\n{script}\n)"
    return f"({script})"


def _convert_env(config: Mapping[str, Any], warnings: list[str]) -> dict[str, str]:
    merged: dict[str, Any] = {}
    for key in ("containerEnv", "remoteEnv"):
        section = config.get(key)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            warnings.append(f"{key} is not an object and was ignored")
            continue
        merged.update(section)
    env: dict[str, str] = {}
    for name, raw in merged.items():
        if raw is None:
            continue  # remoteEnv null unsets a variable
        value = raw if isinstance(raw, str) else json.dumps(raw)
        converted = _convert_variables(value)
        if converted is None:
            warnings.append(f"env {name} uses a devcontainer variable podspawn cannot fill in; "
                            "it was left out")
            continue
        env[str(name)] = converted
    return env


def _convert_variables(value: str) -> str | None:
    unsupported = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unsupported
        kind, rest = match.group(1), match.group(2)
        if rest is None and kind not in _FOLDER_VARIABLES:
            return match.group(0)  # a plain ${NAME}: expanded like any image variable
        if kind != "containerEnv" or not rest:
            unsupported = True
            return match.group(0)
        name, _, default = rest.partition(":")
        return f"${{{name}:-{default}}}" if default else f"${{{name}}}"

    result = _VARIABLE_RE.sub(replace, value)
    return None if unsupported else result


def _convert_ports(value: Any, warnings: list[str]) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        warnings.append("forwardPorts is not an array and was ignored")
        return []
    ports: list[int] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            port = item
        elif isinstance(item, str) and item.isdigit():
            port = int(item)
        else:
            warnings.append(f"forwardPorts entry {item!r} is not a port of the container; skipped")
            continue
        if port not in ports:
            ports.append(port)
    return ports


def _strip_comments(text: str) -> str:
    """Blank out comments outside strings, keeping newlines so error positions stay right."""
    out: list[str] = []
    index, length = 0, len(text)
    in_string = False
    while index < length:
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\" and index + 1 < length:
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
            index += 1
        elif char == '"':
            in_string = True
            out.append(char)
            index += 1
        elif text.startswith("//", index):
            end = text.find("\n", index)
            end = length if end < 0 else end
            out.append(" " * (end - index))
            index = end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                raise ValueError("a /* comment is never closed")
            comment = text[index : end + 2]
            out.append("".join(c if c == "\n" else " " for c in comment))
            index = end + 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _strip_trailing_commas(text: str) -> str:
    out: list[str] = []
    in_string = False
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\" and index + 1 < length:
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif char == ",":
            ahead = index + 1
            while ahead < length and text[ahead] in " \t\r\n":
                ahead += 1
            out.append(" " if ahead < length and text[ahead] in "}]" else char)
        else:
            out.append(char)
        index += 1
    return "".join(out)
