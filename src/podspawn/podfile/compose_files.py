"""Compose files as Compose reads them: YAML, interpolated, checked against the Compose
Specification's own JSON Schema, and merged.

The files come from the repository, so they are read under limits (size, number of nodes,
which also stops alias bombs) and only from inside it. Each file is parsed with PyYAML's safe
loader (anchors and ``<<`` merge keys work), interpolated, and validated with ``jsonschema``
against the vendored ``compose_spec/compose-spec.json`` (see its README for the version), so
a typo such as ``enviroment`` is refused the way ``docker compose config`` refuses it.

Interpolation follows the spec (``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:+alt}``, ``${VAR+alt}``, ``${VAR:?message}``, ``${VAR?message}``, ``$$`` for a dollar)
with one deliberate difference: values come only from the ``.env`` file beside the first
Compose file, never from the server's environment, which is the admin's and not the
project's (the same reason the devcontainer importer drops ``${localEnv:...}``). An unset
variable without a default becomes empty with a warning, as in Compose.

Several files merge as Compose merges them (the spec's "merge" rules), for the keys podspawn
reads: mappings merge key by key, ``environment`` merges by variable (the list form is read
as a mapping first), ``volumes`` merge by container path, ``ports`` and ``expose`` append,
``depends_on`` merges by service, and every other value (``image``, ``command``,
``healthcheck.test``, ...) is replaced by the later file's.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.text_file import read_bounded_text

#: Largest Compose or env file read, in bytes.
MAX_COMPOSE_BYTES = 1024 * 1024
_MAX_NODES = 50_000
_SCHEMA = Path(__file__).with_name("compose_spec") / "compose-spec.json"
_VAR_RE = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
    r"\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+?])(?P<arg>[^}]*))?\})"
)
_ENV_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")


def read_text(root: Path, relative: str, what: str) -> str:
    """A UTF-8 file of the repository, refused when it is missing, too large or reached
    through a symlink that leaves the repository.

    Raises:
        PodfileError: naming ``what``.
    """
    path = root / relative
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PodfileError(f"{what} {relative} does not exist in the repository") from None
    if not real.is_relative_to(root.resolve()):
        raise PodfileError(f"{what} {relative} leaves the repository through a symlink; "
                           "keep it inside the repository")
    return read_bounded_text(real, display=f"{what} {relative}", limit=MAX_COMPOSE_BYTES)


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as Compose's ``.env`` and ``env_file`` read them: ``#`` comments,
    an optional ``export``, single quotes literal, double quotes with ``\\n`` escapes."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE_RE.match(line)
        if match is None:
            continue
        name, raw = match.group(1), match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            value = raw[1:-1]
        elif len(raw) >= 2 and raw[0] == raw[-1] == '"':
            value = raw[1:-1].replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.sub(r"\s+#.*$", "", raw)
        values[name] = value
    return values


def load_compose_file(text: str, display: str, variables: Mapping[str, str],
                      warnings: list[str]) -> dict[str, Any]:
    """One Compose file: parsed, interpolated and validated against the Compose schema.

    Raises:
        PodfileError: the file is not YAML, too large, or not a valid Compose file.
    """
    from podspawn import yaml_text

    try:
        doc = yaml_text.load(text, unique_keys=True)
    except yaml_text.YamlSyntaxError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
        raise PodfileError(f"{display}: invalid YAML{where}: {exc.problem}") from None
    if not isinstance(doc, dict):
        raise PodfileError(f"{display}: a Compose file must be a mapping with services:")
    budget = [_MAX_NODES]
    interpolated = _interpolate(doc, variables, display, warnings, budget)
    validate_compose(interpolated, display)
    return dict(interpolated)


def validate_compose(doc: Mapping[str, Any], display: str) -> None:
    """Check ``doc`` against the Compose Specification's JSON Schema.

    Raises:
        PodfileError: one sentence naming the file and the key.
    """
    import jsonschema

    schema = json.loads(_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return
    where = ".".join(str(part) for part in error.absolute_path) or "the top level"
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    raise PodfileError(f"{display}: {where} is not valid Compose: {message}")


def _interpolate(value: Any, variables: Mapping[str, str], display: str,
                 warnings: list[str], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise PodfileError(f"{display}: the document is too large or too deeply aliased")
    if isinstance(value, str):
        return interpolate(value, variables, display, warnings)
    if isinstance(value, dict):
        return {key: _interpolate(item, variables, display, warnings, budget)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, variables, display, warnings, budget) for item in value]
    return value


def interpolate(text: str, variables: Mapping[str, str], display: str,
                warnings: list[str]) -> str:
    """``text`` with Compose's ``$`` forms replaced from ``variables``.

    Raises:
        PodfileError: a ``${VAR:?message}`` whose variable is unset (or empty).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("plain") or match.group("braced")
        op, arg = match.group("op"), match.group("arg") or ""
        value = variables.get(name)
        empty_counts = op is not None and op.startswith(":")
        is_set = value is not None and (value != "" or not empty_counts)
        if op in (":-", "-"):
            return value if is_set and value is not None else arg
        if op in (":+", "+"):
            return arg if is_set else ""
        if op in (":?", "?"):
            if not is_set or value is None:
                raise PodfileError(f"{display}: variable {name} is required"
                                   f"{': ' + arg if arg else ''}; set it in the .env file "
                                   "beside the Compose file")
            return value
        if value is None:
            note = f"variable {name} is not set in .env; using an empty string"
            if note not in warnings:
                warnings.append(note)
            return ""
        return value

    return _VAR_RE.sub(replace, text)


def merge_compose(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge Compose files in order (later wins), as the spec's merge rules say."""
    merged: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if key == "services" and isinstance(value, dict):
                services = merged.setdefault("services", {})
                for name, service in value.items():
                    base = services.get(name)
                    services[name] = (_merge_service(base, service)
                                      if isinstance(base, dict) and isinstance(service, dict)
                                      else _normalise(service))
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = _deep_merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def _normalise(service: Any) -> Any:
    if not isinstance(service, dict):
        return service
    out = dict(service)
    if "environment" in out:
        out["environment"] = environment_map(out["environment"])
    if isinstance(out.get("depends_on"), list):
        out["depends_on"] = {name: {"condition": "service_started"}
                             for name in out["depends_on"]}
    return out


def _merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _normalise(base)
    for key, value in _normalise(override).items():
        old = result.get(key)
        if key in ("ports", "expose") and isinstance(old, list) and isinstance(value, list):
            result[key] = old + [item for item in value if item not in old]
        elif key == "volumes" and isinstance(old, list) and isinstance(value, list):
            by_target = {volume_target(item): item for item in old}
            by_target.update({volume_target(item): item for item in value})
            result[key] = list(by_target.values())
        elif key in {"command", "entrypoint"}:
            result[key] = value
        elif isinstance(old, dict) and isinstance(value, dict):
            result[key] = _deep_merge(old, value)
        else:
            result[key] = value
    return result


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        old = result.get(key)
        if key != "test" and isinstance(old, dict) and isinstance(value, dict):
            result[key] = _deep_merge(old, value)
        else:
            result[key] = value
    return result


def environment_map(value: Any) -> dict[str, Any]:
    """``environment`` (or ``args``) in either form as a mapping; ``None`` marks a variable
    listed without a value (taken from the shell in Compose)."""
    if isinstance(value, dict):
        return dict(value)
    result: dict[str, Any] = {}
    for item in value or []:
        name, sep, rest = str(item).partition("=")
        result[name] = rest if sep else None
    return result


def volume_target(item: Any) -> str:
    """The container path of a ``volumes`` entry in short or long form."""
    if isinstance(item, dict):
        return str(item.get("target", ""))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def dotenv_for(root: Path, folder: str) -> dict[str, str]:
    """The ``.env`` beside the first Compose file (``folder``, relative to ``root``), or {}."""
    relative = os.path.normpath(os.path.join(folder, ".env"))
    if not (root / relative).exists():
        return {}
    return parse_env_file(read_text(root, relative, "the env file"))
