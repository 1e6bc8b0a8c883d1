"""The Docker Engine backend, through the standard library (``runtime.engine_http``) and,
for builds, pulls and image imports, the ``docker`` SDK.

:class:`DockerRuntime` is the session contract (``runtime.base.Runtime``), the shared
container session logic over :class:`DockerEngine`, which is the only code that calls the
engine. Every SDK call goes through ``_mapped`` and every other call through ``_call`` (and
``_answered``), which turn SDK, HTTP and transport failures into podspawn's error tree, so
no ``docker`` type ever leaves this module. The SDK (requests, urllib3: about 0.1 s) is
imported only when a call needs it, so a login never loads it. Images are built with the
classic builder (what the Engine API offers without BuildKit), which is what these servers
have.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from podspawn.errors import (
    BuildLimitReached,
    Conflict,
    ImageUnavailable,
    RuntimeFailure,
    RuntimeUnavailable,
    SubnetTaken,
)
from podspawn.labels import carries
from podspawn.runtime import cgroups, docker_login
from podspawn.runtime.base import (
    BuildLimits,
    BuildOptions,
    ContainerInfo,
    ContainerSpec,
    ExecResult,
    Mount,
    NetworkInfo,
)
from podspawn.runtime.container_runtime import ContainerRuntime
from podspawn.runtime.engine_http import (
    EngineError,
    EngineSocket,
    error_message,
    filter_query,
    label_filter,
)

if TYPE_CHECKING:
    import docker
    import docker.types

T = TypeVar("T")

#: The bridge driver's option naming the host interface; without it Docker uses br-<id>.
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
#: The colour codes the builder wraps a step's stderr in; a message is plain text.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: What runc says when an exec names a program the container lacks (Docker answers 126).
_NOT_FOUND = b"executable file not found"
_UNAVAILABLE = "Docker is not running on the server; an administrator must start dockerd"


@contextmanager
def _mapped(action: str) -> Iterator[None]:
    """Translate SDK failures raised inside the block into podspawn errors."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageUnavailable(
            f"image needed to {action} is not available", detail=str(exc)
        ) from exc
    except docker.errors.APIError as exc:
        raise RuntimeFailure(
            f"Docker refused to {action}: {exc.explanation or exc}", detail=str(exc)
        ) from exc
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise RuntimeUnavailable(_UNAVAILABLE, detail=f"{action}: {exc}") from exc


def _info(attrs: Mapping[str, Any]) -> ContainerInfo:
    config = attrs.get("Config") or {}
    state = attrs.get("State")
    status = state.get("Status", "") if isinstance(state, dict) else str(state or "")
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name") or (attrs.get("Names") or [""])[0]).lstrip("/"),
        state=status,
        labels=dict(config.get("Labels") or attrs.get("Labels") or {}),
        image=str(config.get("Image") or attrs.get("Image") or ""),
        created=str(attrs.get("Created", "")),
    )


class DockerEngine:
    """:class:`~podspawn.runtime.container_engine.ContainerEngine` over the Docker Engine
    API, one object at a time."""

    name = "docker"

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._sdk: docker.DockerClient | None = client
        path = self._socket_path()
        #: the standard-library client; None for an engine that is not on a unix socket
        #: (``DOCKER_HOST=tcp://...``), which every call then reaches through the SDK
        self._socket = EngineSocket(path) if path else None

    unavailable = _UNAVAILABLE
    """The sentence a user sees when the engine does not answer."""

    def _socket_path(self) -> str:
        """The engine's unix socket, or "" when ``DOCKER_HOST`` names another transport."""
        host = os.environ.get("DOCKER_HOST", "")
        return "" if host and not host.startswith("unix://") else docker_login.socket_path()

    def _connect(self) -> docker.DockerClient:
        import docker

        return docker.from_env(timeout=600)

    @property
    def _client(self) -> docker.DockerClient:
        if self._sdk is None:
            with _mapped("connect"):
                self._sdk = self._connect()
        return self._sdk

    @property
    def _api(self) -> docker.APIClient:
        return self._client.api

    def close(self) -> None:
        """Close the connections to the engine (a long-lived caller's, such as a test's)."""
        if self._sdk is not None:
            self._sdk.close()

    def _call(self, action: str, method: str, target: str, body: object = None, *,
              socket: EngineSocket | None = None) -> Any:
        """One Engine API request (``target`` below the version prefix, query included),
        its JSON answer decoded; failures translated as ``_mapped`` translates the SDK's,
        a 404 recognisable to ``_is_not_found``. ``socket`` is another API on the same
        engine (Podman's own)."""
        with self._answered(action):
            if socket is not None or self._socket is not None:
                return (socket or self._socket).call(method, target, body)  # type: ignore[union-attr]
            return self._through_sdk(method, target, body)

    @contextmanager
    def _answered(self, action: str) -> Iterator[None]:
        """Translate the engine's answers raised inside the block into podspawn errors."""
        try:
            yield
        except EngineError as exc:
            if exc.status == 0:
                raise RuntimeUnavailable(self.unavailable, detail=f"{action}: {exc}") from exc
            raise RuntimeFailure(f"{self.name.capitalize()} refused to {action}: {exc.message}",
                                 detail=f"{exc.status} {exc.message}") from exc

    def _through_sdk(self, method: str, target: str, body: object) -> object:
        """``_call``'s request sent with the SDK's session, for an engine off this host."""
        import requests.exceptions

        api = self._api  # a requests.Session
        url = f"{api.base_url}/v{api.api_version}{target}"
        try:
            response = api.request(method, url, json=body, timeout=api.timeout)
        except requests.exceptions.RequestException as exc:
            raise EngineError(0, f"{method} {target}: {exc}") from exc
        if response.status_code >= 300 and response.status_code != 304:
            raise EngineError(response.status_code, error_message(response.content))
        return response.json() if response.content.strip() else None

    # containers -------------------------------------------------------------------------

    def inspect(self, name_or_id: str) -> ContainerInfo | None:
        try:
            attrs = self._call("inspect a container", "GET",
                               f"/containers/{_quoted(name_or_id)}/json")
        except RuntimeFailure as exc:
            if _is_not_found(exc):
                return None
            raise
        info = _info(attrs)
        return None if info.state == "removing" else info

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        try:
            created = self._call(f"create container {spec.name}", "POST",
                                 f"/containers/create?name={_quoted(spec.name)}",
                                 _create_body(spec))
        except RuntimeFailure as exc:
            if _is_not_found(exc):
                raise ImageUnavailable("image needed to create container "
                                       f"{spec.name} is not available",
                                       detail=str(exc.detail)) from exc
            raise
        info = self.inspect(created["Id"])
        if info is None:
            raise RuntimeFailure(f"container {spec.name} vanished right after creation")
        return info

    def start(self, name_or_id: str) -> None:
        self._call(f"start container {name_or_id}", "POST",
                   f"/containers/{_quoted(name_or_id)}/start")

    def exec(
        self,
        name_or_id: str,
        argv: list[str],
        *,
        user: str = "root",
        env: Mapping[str, str] | None = None,
        workdir: str = "",
        stdin: bytes | None = None,
    ) -> ExecResult:
        if stdin is None and self._socket is not None:
            with self._answered(f"run a command in {name_or_id}"):
                code, output = self._socket.exec_run(_quoted(name_or_id), argv, user=user,
                                                     env=dict(env or {}), workdir=workdir)
            return _exec_result(code, output)
        api = self._api  # a command fed on stdin needs the SDK's hijacked socket
        with _mapped(f"run a command in {name_or_id}"):
            exec_id = api.exec_create(
                name_or_id,
                argv,
                user=user,
                environment=dict(env or {}) or None,
                workdir=workdir or None,
                stdin=stdin is not None,
                stdout=True,
                stderr=True,
            )["Id"]
            if stdin is None:
                output = api.exec_start(exec_id)
            else:
                output = _exec_with_stdin(api, exec_id, stdin)
            code = api.exec_inspect(exec_id).get("ExitCode")
        return _exec_result(code, output or b"")

    def remove(self, name_or_id: str, *, owner: Mapping[str, str]) -> None:
        info = self.inspect(name_or_id)
        if info is None:
            return
        _check_owner("container", name_or_id, info.labels, owner)
        try:
            self._call(f"remove container {info.name}", "DELETE",
                       f"/containers/{info.id}?force=1&v=1")
        except RuntimeFailure as exc:
            if _is_not_found(exc) or "already in progress" in str(exc.detail):
                return
            raise

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        rows = self._call("list containers", "GET",
                          f"/containers/json?all=1&filters={label_filter(labels)}")
        return [_info(row) for row in rows or []]

    def create_network(
        self, name: str, labels: Mapping[str, str], *, interface: str = "", subnet: str = ""
    ) -> NetworkInfo:
        by_name = filter_query({"name": [name]})
        existing = [n for n in self._call(f"find network {name}", "GET",
                                          f"/networks?filters={by_name}") or []
                    if n.get("Name") == name]
        for net in existing:
            if all((net.get("Labels") or {}).get(k) == v for k, v in labels.items()):
                return _network(net)
        if existing:
            raise Conflict(
                f"a network called {name} exists but was not made by podspawn; "
                "remove it or rename it",
            )
        body: dict[str, Any] = {"Name": name, "Driver": "bridge", "Labels": dict(labels),
                                "CheckDuplicate": True}
        if interface:
            body["Options"] = {BRIDGE_NAME_OPTION: interface}
        if subnet:
            body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": subnet}]}
        try:
            created = self._call(f"create network {name}", "POST", "/networks/create", body)
        except RuntimeFailure as exc:
            if subnet and "overlaps" in str(exc.detail):
                raise SubnetTaken(f"subnet {subnet} is taken", detail=exc.detail) from exc
            raise
        return NetworkInfo(id=created["Id"], name=name, labels=dict(labels),
                           interface=interface or _default_bridge(created["Id"]))

    def remove_network(self, name_or_id: str, *, owner: Mapping[str, str]) -> None:
        try:
            attrs = self._call(f"inspect network {name_or_id}", "GET",
                               f"/networks/{_quoted(name_or_id)}")
            _check_owner("network", name_or_id, attrs.get("Labels") or {}, owner)
            self._call(f"remove network {name_or_id}", "DELETE", f"/networks/{attrs['Id']}")
        except RuntimeFailure as exc:
            if _is_not_found(exc):
                return
            raise

    def network_subnets(self) -> list[str]:
        rows = self._call("list networks", "GET", "/networks")
        return [str(cfg["Subnet"]) for net in rows or []
                for cfg in ((net.get("IPAM") or {}).get("Config") or [])
                if "." in str(cfg.get("Subnet", ""))]

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        rows = self._call("list networks", "GET", f"/networks?filters={label_filter(labels)}")
        return [_network(n) for n in rows or []]

    def image_id(self, ref: str) -> str | None:
        if not ref:
            return None
        try:
            return str(self._call(f"inspect image {ref}", "GET",
                                  f"/images/{_quoted(ref)}/json")["Id"])
        except RuntimeFailure as exc:
            if _is_not_found(exc):
                return None
            raise

    def pull(self, ref: str) -> str:
        repo, tag = split_ref(ref)
        try:
            with _mapped(f"pull image {ref}"):
                self._api.pull(repo, tag=tag)
        except (RuntimeFailure, RuntimeUnavailable) as exc:
            if isinstance(exc, RuntimeUnavailable) and "connect" not in str(exc.detail):
                raise
            raise ImageUnavailable(
                f"image {ref} is not on this server and cannot be pulled",
                detail=str(exc.detail or exc),
            ) from exc
        found = self.image_id(ref)
        if found is None:
            raise ImageUnavailable(f"image {ref} is not on this server and cannot be pulled")
        return found

    def build(
        self,
        tag: str,
        dockerfile: str,
        *,
        labels: Mapping[str, str] | None = None,
        files: Mapping[str, bytes] | None = None,
        context_dirs: Mapping[str, str] | None = None,
        on_output: Callable[[str], None] | None = None,
        limits: BuildLimits | None = None,
        options: BuildOptions | None = None,
    ) -> str:
        limits = limits or BuildLimits()
        options = options or BuildOptions()
        context = _tar_context(dockerfile, files or {}, context_dirs or {}, options)
        # the SDK's build() has no cgroupparent, so the Engine API is called as it would
        params: dict[str, Any] = {"t": tag, "rm": True, "forcerm": True, "pull": False,
                                  "labels": json.dumps(dict(labels or {})),
                                  "dockerfile": options.dockerfile_name}
        if options.build_args:
            params["buildargs"] = json.dumps(dict(options.build_args))
        if options.target:
            params["target"] = options.target
        if limits.memory:
            params.update(memory=limits.memory, memswap=limits.memory)  # no swap on top
        group = self._build_group(limits)
        try:
            if group is not None:
                params["cgroupparent"] = self._cgroup_parent(group)
            self._run_build(tag, context, params, on_output, limits, group)
        finally:
            if group is not None:
                cgroups.remove_group(group)
        found = self.image_id(tag)
        if found is None:
            raise RuntimeFailure(f"building {tag} produced no image")
        return found

    def _cgroup_parent(self, group: cgroups.BuildGroup) -> str:
        """The ``cgroupparent`` a build's steps run below (a hook for Podman's)."""
        return group.path

    def _build_group(self, limits: BuildLimits) -> cgroups.BuildGroup | None:
        """The build's own cgroup when its processes are limited (see runtime.cgroups)."""
        if not limits.pids:
            return None
        with _mapped("read the engine's cgroup driver"):
            info = self._api.info()
        if (info.get("CgroupDriver") != "cgroupfs" or str(info.get("CgroupVersion", "1")) != "1"
                or not cgroups.supported()):
            raise RuntimeFailure(
                "this engine cannot limit the processes of an image build (that needs Docker's "
                "cgroupfs driver on cgroups v1); an administrator can build without the limit "
                "by setting images.build_pids: 0",
                detail=f"CgroupDriver={info.get('CgroupDriver')} "
                       f"CgroupVersion={info.get('CgroupVersion')}",
            )
        try:
            return cgroups.make_group(limits.name, limits.pids)
        except OSError as exc:
            raise RuntimeFailure("could not set up the process limit of an image build; "
                                 "check that podspawn runs as root", detail=str(exc)) from exc

    def _run_build(
        self, tag: str, context: io.BytesIO, params: dict[str, Any],
        on_output: Callable[[str], None] | None, limits: BuildLimits,
        group: cgroups.BuildGroup | None,
    ) -> None:
        api: Any = self._api
        with _mapped(f"build image {tag}"):
            response = api._post(api._url("/build"), data=context, params=params,
                                 headers={"Content-Type": "application/tar"}, stream=True,
                                 timeout=None)
            try:
                api._raise_for_status(response)
                self._read_build(tag, api._stream_helper(response, decode=True), on_output,
                                 limits, group)
            finally:
                response.close()

    def _read_build(
        self, tag: str, chunks: Iterator[dict[str, Any]],
        on_output: Callable[[str], None] | None, limits: BuildLimits,
        group: cgroups.BuildGroup | None,
    ) -> None:
        """Follow the builder's messages; raise at the first error, naming its step."""
        tail: list[str] = []
        step = ""
        for chunk in chunks:
            if "stream" in chunk:
                for line in _ANSI.sub("", str(chunk["stream"])).splitlines():
                    if line.startswith(("Step ", "STEP ")):  # Podman's builder shouts
                        step = line
                    tail = [*tail[-19:], line]
                    if on_output is not None:
                        on_output(line)
            if "error" in chunk:
                last = "\n".join(tail[-10:])
                code = (chunk.get("errorDetail") or {}).get("code")
                limit = _limit_reached(code, limits, group)
                if limit:
                    raise BuildLimitReached(
                        f"building {tag} reached its {limit} limit at "
                        f"{step or 'the first step'}\n{last}",
                        limit=limit, step=step, detail=str(chunk["error"]).strip(),
                    )
                raise RuntimeFailure(
                    f"building {tag} failed at {step or 'the first step'}: "
                    f"{str(chunk['error']).strip()}\n{last}",
                    detail=json.dumps(chunk.get("errorDetail", {})),
                )

    def address(self, name_or_id: str) -> str:
        attrs = self._call(f"inspect container {name_or_id}", "GET",
                           f"/containers/{_quoted(name_or_id)}/json")
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        for net in networks.values():
            if net.get("IPAddress"):
                return str(net["IPAddress"])
        return ""

    def list_volumes(self, labels: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
        answer = self._call("list volumes", "GET", f"/volumes?filters={label_filter(labels)}")
        return [(str(v["Name"]), dict(v.get("Labels") or {}))
                for v in (answer or {}).get("Volumes") or []]

    def remove_volume(self, name: str, *, owner: Mapping[str, str]) -> None:
        try:
            attrs = self._call(f"inspect volume {name}", "GET", f"/volumes/{_quoted(name)}")
            _check_owner("volume", name, attrs.get("Labels") or {}, owner)
            self._call(f"remove volume {name}", "DELETE", f"/volumes/{_quoted(name)}?force=1")
        except RuntimeFailure as exc:
            if _is_not_found(exc):
                return
            raise

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        repo, version = split_ref(tag)
        with _mapped(f"import image {tag}"):
            self._api.import_image_from_file(tar_path, repository=repo, tag=version)
        found = self.image_id(tag)
        if found is None:
            raise RuntimeFailure(f"importing {tag} produced no image")
        return found


def _mount(mount: Mount) -> dict[str, Any]:
    """One mount for the Engine API. Labels exist only for volumes: the engine refuses them
    on a bind or tmpfs mount, so they are never sent there."""
    made: dict[str, Any] = {"Target": mount.target, "Source": mount.source, "Type": mount.type,
                            "ReadOnly": mount.read_only}
    if mount.type == "tmpfs" and not mount.source:
        del made["Source"]
    if mount.type == "volume" and mount.labels:
        made["VolumeOptions"] = {"Labels": dict(mount.labels)}
    return made


def _create_body(spec: ContainerSpec) -> dict[str, Any]:
    """The ``POST /containers/create`` body of ``spec``: what the SDK's
    ``create_container`` and ``create_host_config`` send, unset values left out."""
    host: dict[str, Any] = {"NetworkMode": spec.network or "default"}
    for key, value in (("NanoCpus", spec.nano_cpus), ("Memory", spec.memory),
                       ("CapDrop", list(spec.cap_drop)), ("CapAdd", list(spec.cap_add)),
                       ("SecurityOpt", list(spec.security_opt)), ("PidsLimit", spec.pids_limit),
                       ("ReadonlyRootfs", spec.read_only), ("Tmpfs", dict(spec.tmpfs)),
                       ("Runtime", spec.runtime), ("Init", spec.init),
                       ("Mounts", [_mount(m) for m in spec.mounts])):
        if value:
            host[key] = value
    if spec.published:
        host["PortBindings"] = {f"{p.container_port}/tcp": [
            {"HostIp": p.host_ip, "HostPort": str(p.host_port)}] for p in spec.published}
    body: dict[str, Any] = {"Image": spec.image, "Labels": dict(spec.labels),
                            "HostConfig": host, "OpenStdin": False, "Tty": False}
    if spec.command:
        body["Cmd"] = list(spec.command)
    if spec.hostname:
        body["Hostname"] = spec.hostname
    if spec.env:
        body["Env"] = [f"{key}={value}" for key, value in spec.env.items()]
    if spec.working_dir:
        body["WorkingDir"] = spec.working_dir
    if spec.published:
        body["ExposedPorts"] = {f"{p.container_port}/tcp": {} for p in spec.published}
    if spec.network and spec.network != "none":  # Podman refuses an endpoint on none
        body["NetworkingConfig"] = {"EndpointsConfig": {
            spec.network: {"Aliases": list(spec.aliases)} if spec.aliases else {}}}
    return body


def _network(attrs: Mapping[str, Any]) -> NetworkInfo:
    interface = ""
    if attrs.get("Driver", "bridge") == "bridge":
        interface = str((attrs.get("Options") or {}).get(BRIDGE_NAME_OPTION)
                        or _default_bridge(str(attrs["Id"])))
    return NetworkInfo(id=attrs["Id"], name=attrs["Name"], labels=attrs.get("Labels") or {},
                       interface=interface)


def _default_bridge(network_id: str) -> str:
    """What Docker calls a bridge that was given no name: ``br-`` + 12 digits of its id."""
    return f"br-{network_id[:12]}"


def _limit_reached(
    code: object, limits: BuildLimits, group: cgroups.BuildGroup | None
) -> str:
    """Which limit stopped a failed step: ``pids`` when the build's cgroup reached its
    maximum, ``memory`` when the step was killed (137, what the OOM killer leaves) and, where
    the kernel tells, its memory peaked at the limit; else ""."""
    if group is not None and group.pids_reached():
        return "pids"
    if limits.memory and code == 137:
        peak = group.memory_peak() if group is not None else None
        if peak is None or peak >= limits.memory * 0.95:
            return "memory"
    return ""


def _exec_result(code: object, output: bytes) -> ExecResult:
    if code == 126 and _NOT_FOUND in output:  # a shell's (and Podman's) "not found"
        code = 127
    return ExecResult(exit_code=int(code) if isinstance(code, int) else 1, output=output)


def _quoted(name: str) -> str:
    """A name or reference as one path segment of a request (``/`` and ``:`` of an image
    reference kept, as the engine's router expects them)."""
    from urllib.parse import quote

    return quote(name, safe="/:@")


def split_ref(ref: str) -> tuple[str, str]:
    """``repo:tag`` into its parts; no tag means ``latest`` (a registry port is not a tag)."""
    if ":" in ref.rsplit("/", maxsplit=1)[-1]:
        repo, _, tag = ref.rpartition(":")
        return repo, tag
    return ref, "latest"


def _check_owner(
    kind: str, name: str, labels: Mapping[str, str], owner: Mapping[str, str]
) -> None:
    """Refuse to touch an object whose labels do not say it is the one meant."""
    if not carries(labels, owner):
        raise Conflict(
            f"a {kind} named {name} exists that does not belong to this session; podspawn "
            "leaves it alone: an administrator must remove or rename it",
            detail=f"{kind} {name} labels {dict(labels)} lack {dict(owner)}",
        )


def _is_not_found(exc: RuntimeFailure) -> bool:
    if isinstance(exc.__cause__, EngineError):
        return exc.__cause__.status == 404
    import docker.errors

    cause = exc.__cause__
    return isinstance(cause, docker.errors.NotFound) or (
        isinstance(cause, docker.errors.APIError) and cause.status_code == 404
    )


def _tar_context(
    dockerfile: str, files: Mapping[str, bytes], dirs: Mapping[str, str],
    options: BuildOptions,
) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if options.context:  # first, so podspawn's own names below win
            for entry in sorted(os.listdir(options.context)):
                tar.add(os.path.join(options.context, entry), arcname=entry, recursive=True)
        for name, data in {options.dockerfile_name: dockerfile.encode(), **files}.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
        for name, directory in dirs.items():
            tar.add(directory, arcname=name, recursive=True)
    buffer.seek(0)
    return buffer


def _exec_with_stdin(api: Any, exec_id: str, data: bytes) -> bytes:
    """Feed ``data`` to an exec over the hijacked socket, then read everything it prints."""
    import socket

    from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)
    try:
        raw.sendall(data)
        try:
            raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        frames = frames_iter(sock, tty=False)  # type: ignore[no-untyped-call]
        demuxed = (demux_adaptor(*frame) for frame in frames)
        out, err = consume_socket_output(demuxed, demux=True)
    finally:  # the wrapper's close leaves the socket itself open
        sock.close()
        raw.close()
    return (out or b"") + (err or b"")


class DockerRuntime(ContainerRuntime):
    """The session contract over the local Docker Engine."""

    name = "docker"
    login_module = "podspawn.runtime.docker_login"

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        super().__init__(DockerEngine(client))
