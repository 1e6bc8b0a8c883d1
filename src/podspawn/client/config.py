"""The client config, ``~/.podspawn/config.yaml``: which server answers for which ``NAME.pod``.

The format is the Go implementation's, so its files load unchanged::

    servers:
      default: devbox.example.com          # any NAME.pod not mapped below
      mappings:
        api.pod: gpu.example.com:2222      # a host, optionally :PORT
        work.pod: {host: build.example.com, mode: persistent}   # mode is shown, not used
    local: {...}                           # local mode's section; kept, not read here

The rules of each value live in ``rules.py`` (``parse_address``, ``check_pod_name``,
``check_mode``), which the pydantic models in ``schema.py`` call too. ``podspawn connect``
runs on every ``ssh NAME.pod``, so a well-formed file is read without importing pydantic;
anything else goes through the models, which name each problem by its dotted key.
"""


from __future__ import annotations

import os

from podspawn import yaml_text
from podspawn.client import paths
from podspawn.client.rules import (
    POD_SUFFIX,
    check_mode,
    check_pod_name,
    clean,
    parse_address,
    show,
)
from podspawn.errors import ConfigError
from podspawn.record import Record
from podspawn.validation import Wording, describe_errors

TYPE_CHECKING = False  # not typing's: `connect` runs on every .pod login (about 3 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["POD_SUFFIX", "ClientConfig", "Server", "check_mode", "check_pod_name",
           "load_client_config", "parse_address", "parse_client_config", "set_value",
           "split_key", "validate_client_config"]

DEFAULT_SSH_PORT = 22
_TOP_KEYS = frozenset({"servers", "local"})
_SERVERS_KEYS = frozenset({"default", "mappings"})
_ENTRY_KEYS = frozenset({"host", "mode"})

NO_CONFIG_HINT = "create it with: podspawn config set servers.default HOST"


class Server(Record):
    """Where the outer SSH connection for a pod goes. ``port`` None leaves it to ssh.

    A plain record, not a dataclass: ``dataclasses`` costs every ``.pod`` login about 12 ms.
    """

    __slots__ = ("host", "port", "mode")
    _defaults: Mapping[str, Any] = {"port": None, "mode": ""}
    host: str
    port: int | None
    mode: str

    if TYPE_CHECKING:
        def __init__(self, host: str, port: int | None = None, mode: str = "") -> None: ...

    @property
    def address(self) -> str:
        """As written in the config: ``host``, ``host:port`` or ``[v6]:port``."""
        if self.port is None:
            return self.host
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def probe_port(self) -> int:
        return DEFAULT_SSH_PORT if self.port is None else self.port


class ClientConfig(Record):
    __slots__ = ("default", "mappings", "source", "found")
    _defaults: Mapping[str, Any] = {"default": None, "mappings": {}, "source": "",
                                    "found": False}
    default: Server | None
    mappings: Mapping[str, Server]
    source: str
    found: bool

    if TYPE_CHECKING:
        def __init__(self, *, default: Server | None = None,
                     mappings: Mapping[str, Server] = ..., source: str = "",
                     found: bool = False) -> None: ...

    def resolve(self, host: str) -> Server:
        """The server for ``host`` (``api.pod``): its exact mapping, else the default.

        Raises:
            ConfigError: neither exists.
        """
        name = host.strip().lower()
        server = self.mappings.get(name) or self.default
        if server is None:
            raise ConfigError(
                f'no server configured for "{clean(name)}"; '
                "set one with: podspawn config set servers.default HOST"
            )
        return server

    def items(self) -> list[tuple[str, str]]:
        """``(key, value)`` pairs in ``podspawn config set`` form, default first."""
        rows: list[tuple[str, str]] = []
        if self.default is not None:
            rows.append(("servers.default", self.default.address))
        for name, server in sorted(self.mappings.items()):
            if server.mode:
                rows.append((f"servers.mappings.{name}.host", server.address))
                rows.append((f"servers.mappings.{name}.mode", server.mode))
            else:
                rows.append((f"servers.mappings.{name}", server.address))
        return rows

    def to_dict(self) -> dict[str, Any]:
        def one(server: Server) -> dict[str, Any]:
            return {"host": server.host, "port": server.port, "mode": server.mode,
                    "address": server.address}

        return {
            "path": self.source,
            "found": self.found,
            "default": one(self.default) if self.default else None,
            "mappings": {name: one(s) for name, s in sorted(self.mappings.items())},
        }


def make_server(host: str, mode: str = "") -> Server:
    name, port = parse_address(host)
    return Server(host=name, port=port, mode=check_mode(mode))


# -- reading ---------------------------------------------------------------------------------


def load_client_config(path: str | None = None) -> ClientConfig:
    """The config at ``path`` (default ``~/.podspawn/config.yaml``); empty if there is none.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or holds a wrong key or value.
    """
    path = path or paths.client_config_path()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return ClientConfig(source=path, found=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {paths.display(path)}: {exc.strerror}; check its permissions"
        ) from exc
    return parse_client_config(raw, source=path)


def parse_client_config(raw: bytes | str, *, source: str = "config") -> ClientConfig:
    """Validate config text.

    Raises:
        ConfigError: the text is not YAML, or a key or value is wrong (each one named).
    """
    data = _load_yaml(raw, source)
    fast = _fast_build(data, source)
    if fast is not None:
        return fast
    return validate_client_config(data, source=source)


def validate_client_config(data: object, *, source: str = "config") -> ClientConfig:
    """Build the config through the pydantic models, one sentence per problem.

    Raises:
        ConfigError: naming every wrong key, such as ``servers.mappings.api.pod.host``.
    """
    from pydantic import ValidationError

    from podspawn.client.schema import ClientConfigModel

    where = paths.display(source) if os.sep in source else source
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping with a 'servers:' section")
    try:
        model = ClientConfigModel.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc.errors(include_url=False), _ClientWording())
        raise ConfigError(f"{where}: " + "; ".join(problems)) from exc
    servers = model.servers
    return ClientConfig(
        default=make_server(servers.default) if servers.default is not None else None,
        mappings={name: make_server(entry.host, entry.mode)
                  for name, entry in servers.mappings.items()},
        source=source,
        found=True,
    )


def _load_yaml(raw: bytes | str, source: str) -> object:
    try:
        data = yaml_text.load(raw)
    except yaml_text.YamlSyntaxError as exc:
        shown = paths.display(source) if os.sep in source else source
        raise ConfigError(f"{shown} is not valid YAML{exc.at_line}; fix the syntax") from exc
    return {} if data is None else data


class _Irregular(Exception):
    """The data is not in the plain shape ``_fast_build`` reads; the models must judge it."""


def _mapping(value: object, keys: frozenset[str]) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not set(value) <= keys:
        raise _Irregular
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Irregular
    return value


def _fast_entry(value: object) -> Server:
    if isinstance(value, str):
        return make_server(value)
    entry = _mapping(value, _ENTRY_KEYS)
    if "host" not in entry:
        raise _Irregular
    return make_server(_text(entry["host"]), _text(entry.get("mode", "")))


def _fast_build(data: object, source: str) -> ClientConfig | None:
    """The config when ``data`` is well formed, else None (the models then explain why)."""
    try:
        top = _mapping(data, _TOP_KEYS)
        if top.get("local") is not None and not isinstance(top["local"], dict):
            raise _Irregular
        servers = _mapping(top.get("servers"), _SERVERS_KEYS)
        default = servers.get("default")
        mappings = servers.get("mappings")
        if mappings is None:
            mappings = {}
        elif not isinstance(mappings, dict):
            raise _Irregular
        return ClientConfig(
            default=None if default is None else make_server(_text(default)),
            mappings={check_pod_name(name): _fast_entry(value)
                      for name, value in mappings.items()},
            source=source, found=True,
        )
    except (_Irregular, ValueError, TypeError):
        return None


# -- writing ---------------------------------------------------------------------------------


def split_key(key: str) -> tuple[str, str, str]:
    """``(section, pod name, field)`` of a settable key, normalised.

    ``servers.default`` -> ``("default", "", "")``; ``servers.mappings.api.pod`` (or
    ``servers.mappings.api``) -> ``("mappings", "api.pod", "host")``, and with a trailing
    ``.host`` or ``.mode`` that field.

    Raises:
        ConfigError: any other key.
    """
    if key == "servers.default":
        return "default", "", ""
    prefix = "servers.mappings."
    if key.startswith(prefix) and len(key) > len(prefix):
        rest, field_name = key[len(prefix):], "host"
        head, dot, last = rest.rpartition(".")
        if dot and head and last in ("host", "mode") and (
            head.endswith(POD_SUFFIX) or "." not in head
        ):
            rest, field_name = head, last
        if "." not in rest:
            rest += POD_SUFFIX
        try:
            return "mappings", check_pod_name(rest), field_name
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    raise ConfigError(
        f"unknown key {show(key)}; use servers.default or servers.mappings.NAME.pod "
        "(with .host or .mode for the long form)"
    )


def key_name(section: str, name: str, field_name: str) -> str:
    if section == "default":
        return "servers.default"
    suffix = "" if field_name == "host" else f".{field_name}"
    return f"servers.mappings.{name}{suffix}"


def set_value(key: str, value: str, *, path: str | None = None) -> tuple[str, str]:
    """Set one key in the config file, validating the whole file before writing it.

    The file is rewritten atomically (0600 when new, its directory 0700); other sections,
    such as ``local:``, are kept. Returns the key as stored and the value.

    Raises:
        ConfigError: the key is unknown, the value is wrong, or the file is invalid.
    """
    from podspawn.files import atomic_write

    path = path or paths.client_config_path()
    section, name, field_name = split_key(key)
    try:
        with open(path, "rb") as fh:
            data = _load_yaml(fh.read(), path)
    except FileNotFoundError:
        data = {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read {paths.display(path)}: {exc.strerror}; check its permissions"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{paths.display(path)} must be a YAML mapping with 'servers:'")
    servers = data.get("servers")
    if servers is None:
        servers = data["servers"] = {}
    if not isinstance(servers, dict):
        raise ConfigError(f"{paths.display(path)}: servers: must be a mapping; fix it by hand")
    value = value.strip()
    if section == "default":
        servers["default"] = value
    else:
        _set_mapping(servers, name, field_name, value, path)
    validate_client_config(data, source=path)
    text = yaml_text.dump(data)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    atomic_write(path, text.encode(), mode=None if os.path.exists(path) else 0o600)
    return key_name(section, name, field_name), value


def _set_mapping(servers: dict[Any, Any], name: str, field_name: str, value: str,
                 path: str) -> None:
    """Set ``servers.mappings[name]``'s host or mode in place, keeping the entry's order and
    its other field; a key spelt differently (``API.pod``) is renamed to ``name``."""
    mappings = servers.get("mappings")
    if mappings is None:
        mappings = servers["mappings"] = {}
    if not isinstance(mappings, dict):
        raise ConfigError(
            f"{paths.display(path)}: servers.mappings: must be a mapping; fix it by hand"
        )
    old = next((k for k in mappings if isinstance(k, str) and k.strip().lower() == name), None)
    current = mappings.get(old) if old is not None else None
    if field_name == "host":
        entry: object = {**current, "host": value} if isinstance(current, dict) else value
    elif current is None:
        raise ConfigError(
            f"servers.mappings.{name} has no host yet; set it first with: "
            f"podspawn config set servers.mappings.{name} HOST"
        )
    else:
        entry = {**current, "mode": value} if isinstance(current, dict) else \
            {"host": current, "mode": value}
    if old is None:
        mappings[name] = entry
        return
    renamed = {(name if k == old else k): (entry if k == old else v) for k, v in mappings.items()}
    mappings.clear()
    mappings.update(renamed)


class _ClientWording(Wording):
    top_level = "(top level)"
    mark_keys = False

    def show(self, value: object) -> str:
        return show(value)

    def unknown_key(self, loc: list[str | int]) -> str:
        if len(loc) <= 1:
            known = "servers (and local, for local mode)"
        elif len(loc) == 2:
            known = "servers.default and servers.mappings"
        else:
            known = "host and mode"
        return f"unknown key; the keys here are {known}"

    def missing(self, loc: list[str | int]) -> str:
        return "missing; add it"

    def mapping_type(self, error: Mapping[str, Any], message: str) -> str:
        return f"must be a mapping (got {show(error.get('input'))})"

    def list_type(self, error: Mapping[str, Any], message: str) -> str:
        return self.other(error, message)

    def other(self, error: Mapping[str, Any], message: str) -> str:
        return f"{message} (got {show(error.get('input'))})"
