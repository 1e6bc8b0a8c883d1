"""A devcontainer.json that uses Docker Compose, as a Podfile: the ``service`` becomes the
session container, the other services its companions.

``dockerComposeFile`` (one path or a list, relative to the devcontainer.json's folder and
inside the repository) names the files, read and merged by
:mod:`podspawn.podfile.compose_files`. Then:

* the ``service``'s ``image`` is the Podfile ``base``, or its ``build`` (``context``,
  ``dockerfile`` relative to it, ``args``, ``target``) builds the base as a devcontainer
  ``build`` does; its ``environment`` and ``env_file`` become ``env`` (``containerEnv``
  wins), its ``working_dir`` the ``workspace`` when ``workspaceFolder`` is unset, its
  ``ports``/``expose`` container ports ``ports.expose``. Its ``command`` (usually
  ``sleep infinity``) and its binds of the repository are not needed: podspawn keeps the
  container alive and checks the project out in the workspace.
* every other service (or those in ``runServices``, plus what they and ``service``
  ``depends_on``) becomes a Podfile ``services`` entry of the same name, which is its host
  name on the session's private network, ordered so that each starts after what it depends
  on. ``image``, ``environment``/``env_file``, ``command``, ``ports``/``expose`` (container
  ports; nothing is published on the host) and ``volumes`` (named volumes; host paths only
  under ``security.allowed_bind_roots``) map directly. A ``healthcheck`` becomes the
  service's ``ready`` command when some service ``depends_on`` it with
  ``condition: service_healthy``; its ``retries`` x (``interval`` + ``timeout``) +
  ``start_period`` is how long the session waits for it.

What would break isolation or that podspawn cannot honour is refused by name (one sentence
naming the file, the service and the key): ``privileged``, ``network_mode``, ``pid``,
``ipc``/``uts``/``cgroup`` on the host or another container, ``userns_mode``, ``devices``,
``security_opt``, ``cap_add`` beyond the admin's lists, ``sysctls``, ``volumes_from``,
``extends``, secrets and configs, external or driver-specific volumes, the API socket, and
host paths outside the allowed roots. Keys with no effect on a podspawn session
(``restart``, ``container_name``, ``networks``, resource keys...) are ignored with a warning.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podspawn.errors import PodfileError
from podspawn.names import SERVICE_PATTERN
from podspawn.podfile.bind_roots import bind_parts
from podspawn.podfile.build_context import BuildSpec, inside_repository, parse_build
from podspawn.podfile.compose_files import (
    dotenv_for,
    environment_map,
    load_compose_file,
    merge_compose,
    parse_env_file,
    read_text,
)

#: Compose's healthcheck defaults (seconds, seconds, count, seconds).
HEALTH_DEFAULTS = (30.0, 30.0, 3, 0.0)
_MAX_READY = 3600.0

_REFUSED = {
    "privileged": "it would give the container root on the host",
    "network_mode": "every service runs on the session's private network",
    "pid": "it would share another process namespace",
    "userns_mode": "it would change the user namespace podspawn sets",
    "devices": "host devices are not passed to containers",
    "device_cgroup_rules": "host devices are not passed to containers",
    "gpus": "host devices are not passed to containers",
    "security_opt": "podspawn sets the security options itself",
    "sysctls": "kernel settings are the admin's",
    "ulimits": "limits are the admin's",
    "oom_kill_disable": "limits are the admin's",
    "oom_score_adj": "limits are the admin's",
    "cgroup_parent": "limits are the admin's",
    "runtime": "the OCI runtime is the admin's",
    "isolation": "the isolation technology is the admin's",
    "volumes_from": "it would share another container's storage",
    "external_links": "it would reach containers outside the session",
    "extends": "it is not supported; put the shared keys in a second file of "
               "dockerComposeFile, which Compose merges",
    "secrets": "secrets and configs are read from the host",
    "configs": "secrets and configs are read from the host",
    "use_api_socket": "it would hand the container the engine's API",
    "credential_spec": "it is not supported",
    "provider": "it is not supported",
    "models": "it is not supported",
    "entrypoint": "it is not supported; use command, or an image with that entrypoint",
    "dockerfile_inline": "it is not supported",
}
_SHARED_NAMESPACE = {"ipc": ("host", "container:", "service:"), "uts": ("host",),
                     "cgroup": ("host",)}
_MAPPED = frozenset({"image", "build", "environment", "env_file", "command", "ports", "expose",
                     "volumes", "healthcheck", "depends_on", "working_dir", "cap_add",
                     "cap_drop", "profiles", "ipc", "uts", "cgroup"})
_QUIET = frozenset({"tty", "stdin_open", "init", "container_name", "hostname", "restart",
                    "labels", "annotations", "networks", "links", "platform", "pull_policy"})
_PORT_RE = re.compile(r"^(?:(?:\[?[0-9a-fA-F.:]*\]?:)?(?:[0-9]+(?:-[0-9]+)?)?:)?"
                      r"(?P<start>[0-9]+)(?:-(?P<end>[0-9]+))?(?:/(?P<proto>tcp|udp))?$")
_DURATION_RE = re.compile(r"([0-9.]+)(us|ms|s|m|h)")
_DURATION_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class ComposePolicy:
    """What the admin lets a repository's Compose file ask for."""

    allowed_bind_roots: Sequence[str] = ()
    session_cap_add: Sequence[str] = ()
    """Capabilities the session container gets anyway (``security.cap_add``)."""
    service_cap_add: Sequence[str] = ()
    """Capabilities companion containers get anyway (``security.service_cap_add``)."""


@dataclass(slots=True)
class ComposeResult:
    """What the Compose files add to the Podfile dict the devcontainer.json gives."""

    image: str = ""
    """The session service's image; "" when it builds (see ``build``)."""
    build: BuildSpec | None = None
    env: dict[str, str] = field(default_factory=dict)
    workspace: str = ""
    ports: list[int] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compose_files(config: Mapping[str, Any], folder: str) -> list[str]:
    """The Compose files of ``config``, relative to the repository root.

    Raises:
        PodfileError: the key has the wrong type or a path leaves the repository.
    """
    value = config.get("dockerComposeFile")
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(
            isinstance(name, str) and name for name in names):
        raise PodfileError("dockerComposeFile must be a path or a list of paths")
    return [inside_repository(folder, name, "dockerComposeFile", what="the Compose files")
            for name in names]


def load_compose(root: Path, config: Mapping[str, Any], *, folder: str,
                 policy: ComposePolicy) -> ComposeResult:
    """Read, merge and convert the Compose files of a devcontainer.json in repository folder
    ``folder`` (``.`` for the root).

    Raises:
        PodfileError: one sentence naming the file, the service and the key.
    """
    files = compose_files(config, folder)
    result = ComposeResult(sources=files)
    variables = dotenv_for(root, posixpath.dirname(files[0]) or ".")
    docs = [load_compose_file(read_text(root, name, "dockerComposeFile"), name, variables,
                              result.warnings) for name in files]
    merged = merge_compose(docs)
    shown = files[0] if len(files) == 1 else ", ".join(files)
    _Converter(root, merged, shown, posixpath.dirname(files[0]) or ".", policy,
               result).convert(config)
    return result


class _Converter:
    def __init__(self, root: Path, doc: Mapping[str, Any], shown: str, folder: str,
                 policy: ComposePolicy, result: ComposeResult) -> None:
        self.root, self.doc, self.shown, self.folder = root, doc, shown, folder
        self.policy, self.result = policy, result
        self.services: Mapping[str, Any] = doc.get("services") or {}

    def fail(self, where: str, text: str) -> PodfileError:
        return PodfileError(f"{self.shown}: {where} {text}")

    def convert(self, config: Mapping[str, Any]) -> None:
        main = config.get("service")
        if not isinstance(main, str) or not main:
            raise PodfileError("dockerComposeFile needs service, the name of the Compose "
                               "service to use as the session container")
        if main not in self.services:
            raise self.fail(f"has no service {main!r}", "(devcontainer.json service); "
                            f"its services are {', '.join(sorted(self.services)) or 'none'}")
        if "include" in self.doc:
            raise self.fail("include", "is not supported; list the files in "
                            "dockerComposeFile instead")
        wanted = self._selected(config, main)
        healthy = self._healthy_targets(wanted | {main})
        for name in (main, *sorted(wanted)):
            self._check_keys(name)
        self._session(main, config)
        for name in self._ordered(wanted):
            self.result.services.append(self._companion(name, healthy.get(name)))

    def _selected(self, config: Mapping[str, Any], main: str) -> set[str]:
        run = config.get("runServices")
        if run is None:
            chosen = [name for name, svc in self.services.items()
                      if name != main and not (svc or {}).get("profiles")]
            chosen += list((self.services[main] or {}).get("depends_on") or {})
        else:
            if not isinstance(run, list) or not all(isinstance(n, str) for n in run):
                raise PodfileError("runServices must be a list of service names")
            missing = [n for n in run if n not in self.services]
            if missing:
                raise self.fail(f"has no service {missing[0]!r}", "(named in runServices)")
            chosen = [n for n in run if n != main]
            chosen += list((self.services[main] or {}).get("depends_on") or {})
        wanted: set[str] = set()
        stack = chosen
        while stack:
            name = stack.pop()
            if name == main or name in wanted:
                continue
            if name not in self.services:
                raise self.fail(f"services.{main}.depends_on", f"names no service {name!r}")
            wanted.add(name)
            stack.extend((self.services[name] or {}).get("depends_on") or {})
        return wanted

    def _healthy_targets(self, names: set[str]) -> dict[str, str]:
        """Services some selected service waits for with ``service_healthy``: name -> who."""
        targets: dict[str, str] = {}
        for name in sorted(names):
            for dep, spec in _depends(self.services[name]).items():
                where = f"services.{name}.depends_on.{dep}"
                if dep not in self.services:
                    raise self.fail(where, f"names no service {dep!r}")
                condition = spec.get("condition", "service_started")
                if condition == "service_completed_successfully":
                    raise self.fail(where, "uses condition service_completed_successfully, "
                                    "which podspawn cannot honour; use service_healthy")
                if condition == "service_healthy":
                    targets[dep] = where
        return targets

    def _check_keys(self, name: str) -> None:
        service = self.services[name] or {}
        for key, value in service.items():
            where = f"services.{name}.{key}"
            if key in _REFUSED and value not in (None, False, [], {}):
                raise self.fail(where, f"is refused: {_REFUSED[key]}")
            if key in _SHARED_NAMESPACE and isinstance(value, str) and value.startswith(
                    _SHARED_NAMESPACE[key]):
                raise self.fail(where, f"{value} is refused: it would share a namespace "
                                "with the host or another container")
            if key not in _MAPPED and key not in _QUIET and key not in _REFUSED \
                    and not key.startswith("x-"):
                self.result.warnings.append(f"{where} is not supported and was ignored")

    def _session(self, name: str, config: Mapping[str, Any]) -> None:
        service = self.services[name] or {}
        self._check_caps(name, service, self.policy.session_cap_add)
        if isinstance(service.get("image"), str) and service["image"] and "build" not in service:
            self.result.image = service["image"]
        elif "build" in service:
            self.result.build = self._build(name, service["build"])
        else:
            raise self.fail(f"services.{name}", "has neither image nor build; name the "
                            "session's image")
        self.result.env = self._env(name, service)
        working_dir = service.get("working_dir")
        if isinstance(working_dir, str) and working_dir and not config.get("workspaceFolder"):
            self.result.workspace = working_dir
        self.result.ports = self._ports(name, service)
        for index, entry in enumerate(service.get("volumes") or []):
            where = f"services.{name}.volumes.{index}"
            kind, source, _target, _ro = self._volume(where, entry)
            if kind == "bind" and not source.startswith("/"):
                self.result.warnings.append(f"{where}: the repository is checked out in the "
                                            "workspace instead of being mounted")
            elif kind == "bind":
                self.result.warnings.append(f"{where}: host path {source} is not mounted "
                                            "into the session container")
            else:
                self.result.warnings.append(f"{where}: volumes of the session container are "
                                            "not kept; only companion services keep volumes")
        if service.get("command") is not None:
            self.result.warnings.append(f"services.{name}.command is not run: podspawn "
                                        "keeps the session container running itself")

    def _build(self, name: str, build: Any) -> BuildSpec:
        section = {"context": build} if isinstance(build, str) else dict(build)
        context = section.get("context", ".")
        if not isinstance(context, str) or "://" in context:
            raise self.fail(f"services.{name}.build.context",
                            "must be a folder of the repository")
        if section.get("dockerfile_inline"):
            raise self.fail(f"services.{name}.build.dockerfile_inline",
                            "is not supported; write the Dockerfile to a file")
        for key in ("ssh", "secrets", "additional_contexts", "network", "privileged",
                    "entitlements"):
            if section.get(key):
                raise self.fail(f"services.{name}.build.{key}", "is refused: builds run "
                                "with no host access")
        args = {key: "" if value is None else str(value)
                for key, value in environment_map(section.get("args")).items()}
        dockerfile = section.get("dockerfile", "Dockerfile")
        spec = parse_build({"build": {"dockerfile": posixpath.join(context, str(dockerfile)),
                                      "context": context, "args": args,
                                      "target": section.get("target", "")}},
                           folder=self.folder)
        assert spec is not None  # a dockerfile was given
        return replace(spec, dockerfile_key=f"services.{name}.build.dockerfile",
                       context_key=f"services.{name}.build.context")

    def _companion(self, name: str, healthy_for: str | None) -> dict[str, Any]:
        service = self.services[name] or {}
        where = f"services.{name}"
        if not re.fullmatch(SERVICE_PATTERN, name):
            raise self.fail(where, "has a name podspawn cannot use as a host name; use 1-40 "
                            "lowercase letters, digits, '_' or '-'")
        if "build" in service:
            raise self.fail(f"{where}.build", "is not supported for a companion service; "
                            "give it an image")
        image = service.get("image")
        if not isinstance(image, str) or not image:
            raise self.fail(where, "has no image; give it one")
        self._check_caps(name, service, self.policy.service_cap_add)
        out: dict[str, Any] = {"name": name, "image": image}
        env = self._env(name, service)
        if env:
            out["env"] = env
        ports = self._ports(name, service)
        if ports:
            out["ports"] = ports
        command = service.get("command")
        if isinstance(command, str):
            out["command"] = shlex.split(command)
        elif isinstance(command, list):
            out["command"] = [str(word) for word in command]
        volumes = []
        for index, entry in enumerate(service.get("volumes") or []):
            spec = self._companion_volume(f"{where}.volumes.{index}", entry)
            if spec:
                volumes.append(spec)
        if volumes:
            out["volumes"] = volumes
        if healthy_for is not None:
            out.update(self._ready(name, service, healthy_for))
        return out

    def _ready(self, name: str, service: Mapping[str, Any], who: str) -> dict[str, Any]:
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test or test == ["NONE"]:
            raise self.fail(who, f"waits for {name} to be healthy, but services.{name} has "
                            "no healthcheck; add one")
        if isinstance(test, str):
            ready = test
        elif test[0] == "CMD-SHELL" and len(test) > 1:
            ready = " ".join(test[1:])
        elif test[0] == "CMD" and len(test) > 1:
            ready = shlex.join([str(word) for word in test[1:]])
        else:
            raise self.fail(f"services.{name}.healthcheck.test",
                            "must be a string or start with CMD or CMD-SHELL")
        interval, timeout, retries, start = HEALTH_DEFAULTS
        interval = self._duration(name, check, "interval", interval)
        timeout = self._duration(name, check, "timeout", timeout)
        start = self._duration(name, check, "start_period", start)
        retries = int(check.get("retries", retries))
        wait = min(_MAX_READY, max(1.0, start + max(retries, 1) * (interval + timeout)))
        return {"ready": ready, "ready_timeout": wait}

    def _duration(self, name: str, check: Mapping[str, Any], key: str, default: float
                  ) -> float:
        value = check.get(key)
        if value is None:
            return default
        if isinstance(value, int | float):
            return float(value)
        text = str(value)
        parts = _DURATION_RE.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise self.fail(f"services.{name}.healthcheck.{key}",
                            f"{text!r} is not a duration such as 10s or 1m30s")
        return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)

    def _check_caps(self, name: str, service: Mapping[str, Any], allowed: Sequence[str]
                    ) -> None:
        allowed_set = {cap.upper().removeprefix("CAP_") for cap in allowed}
        for cap in service.get("cap_add") or []:
            if str(cap).upper().removeprefix("CAP_") not in allowed_set:
                raise self.fail(f"services.{name}.cap_add", f"{cap} is refused: it is beyond "
                                "what the server's security policy grants")
        if service.get("cap_add"):
            self.result.warnings.append(f"services.{name}.cap_add: these capabilities are "
                                        "granted by the server's policy anyway")

    def _env(self, name: str, service: Mapping[str, Any]) -> dict[str, str]:
        merged: dict[str, Any] = {}
        files = service.get("env_file")
        for index, entry in enumerate([files] if isinstance(files, str) else files or []):
            path = entry if isinstance(entry, str) else entry.get("path", "")
            required = True if isinstance(entry, str) else entry.get("required", True)
            where = f"services.{name}.env_file.{index}"
            relative = inside_repository(self.folder, path, f"{self.shown}: {where}",
                                         what="its env files")
            if not (self.root / relative).exists() and not required:
                continue
            merged.update(parse_env_file(read_text(self.root, relative, where)))
        merged.update(environment_map(service.get("environment")))
        env: dict[str, str] = {}
        for key, value in merged.items():
            if value is None:
                self.result.warnings.append(
                    f"services.{name}.environment.{key} has no value (Compose would take it "
                    "from the shell, which on a server is the admin's); it was left out")
                continue
            if isinstance(value, bool):
                env[key] = "true" if value else "false"
            else:
                env[key] = str(value)
        return env

    def _ports(self, name: str, service: Mapping[str, Any]) -> list[int]:
        ports: list[int] = []
        published = False
        for entry in [*(service.get("ports") or []), *(service.get("expose") or [])]:
            if isinstance(entry, dict):
                published = published or entry.get("published") is not None
                numbers = [int(entry["target"])]
            else:
                text = str(entry)
                match = _PORT_RE.fullmatch(text)
                if match is None:
                    raise self.fail(f"services.{name}.ports", f"{text!r} is not a port")
                published = published or ":" in text
                start = int(match.group("start"))
                end = int(match.group("end") or start)
                if end - start > 100:
                    raise self.fail(f"services.{name}.ports",
                                    f"{text!r} is a range of more than 100 ports")
                numbers = list(range(start, end + 1))
            ports.extend(n for n in numbers if n not in ports)
        if published:
            self.result.warnings.append(
                f"services.{name}.ports: nothing is published on the server; reach "
                f"{name} by name on the session network, or forward it with ssh -L")
        return ports

    def _volume(self, where: str, entry: Any) -> tuple[str, str, str, bool]:
        """(kind, source, target, read only) of a ``volumes`` entry."""
        if isinstance(entry, dict):
            kind = str(entry.get("type", "volume"))
            source, target = str(entry.get("source", "")), str(entry.get("target", ""))
            read_only = bool(entry.get("read_only"))
        else:
            parts = str(entry).split(":")
            if len(parts) == 1:
                return "anonymous", "", parts[0], False
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        if kind not in ("volume", "bind", "tmpfs"):
            raise self.fail(where, f"of type {kind} is not supported")
        if kind == "volume" and not source:
            kind = "anonymous"
        return kind, source, target, read_only

    def _companion_volume(self, where: str, entry: Any) -> str | None:
        kind, source, target, read_only = self._volume(where, entry)
        suffix = ":ro" if read_only else ""
        if kind in ("anonymous", "tmpfs"):
            self.result.warnings.append(f"{where}: {target} is not kept (an anonymous or "
                                        "tmpfs volume); name a volume to keep it")
            return None
        if kind == "volume":
            self._check_named(where, source)
            return f"{source}:{target}{suffix}"
        if not source.startswith("/"):
            raise self.fail(where, f"mounts the host path {source}, which is refused: "
                            "companion services get named volumes, and host paths only "
                            "under the admin's security.allowed_bind_roots")
        if bind_parts(source, self.policy.allowed_bind_roots) is None:
            raise self.fail(where, f"mounts the host path {source}, which is outside this "
                            "server's security.allowed_bind_roots; use a named volume such "
                            f"as data:{target}")
        return f"{posixpath.normpath(source)}:{target}{suffix}"

    def _check_named(self, where: str, name: str) -> None:
        declared = (self.doc.get("volumes") or {})
        if name not in declared:
            raise self.fail(where, f"uses volume {name!r}, which the top-level volumes: "
                            "does not declare")
        spec = declared[name] or {}
        if spec.get("external"):
            raise self.fail(f"volumes.{name}.external", "is refused: a session's volumes "
                            "are its own")
        if spec.get("driver") not in (None, "local") or spec.get("driver_opts"):
            raise self.fail(f"volumes.{name}", "sets a driver or driver_opts, which is "
                            "refused: they can mount host paths")

    def _ordered(self, names: set[str]) -> list[str]:
        """``names`` so that each comes after what it depends on (stable by name)."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise self.fail(f"services.{name}.depends_on", "is circular")
            visiting.add(name)
            for dep in sorted(_depends(self.services[name] or {})):
                if dep in names:
                    visit(dep)
            visiting.discard(name)
            order.append(name)

        for name in sorted(names):
            visit(name)
        return order


def _depends(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    value = (service or {}).get("depends_on") or {}
    if isinstance(value, list):
        return {str(name): {"condition": "service_started"} for name in value}
    return {str(name): dict(spec or {}) for name, spec in value.items()}

