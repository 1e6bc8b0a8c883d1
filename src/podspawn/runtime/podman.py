"""The rootful Podman backend, through Podman's Docker-compatible API (``engine_http``; the
docker SDK for builds and image imports).

``podman system service`` answers the Docker Engine API (v1.41) on its own socket, so
:class:`PodmanEngine` is :class:`~podspawn.runtime.docker.DockerEngine` pointed there,
except where Podman's compatibility layer answers differently:

* networks: the compatibility layer ignores Docker's bridge-name option and does not report
  a bridge's host interface, and the packet filter matches session bridges by that name; so
  networks are created and listed through Podman's own (libpod) endpoints, which take and
  report ``network_interface``;
* named volumes: Docker creates a mount's missing volume with the mount's labels, Podman
  creates it bare, so cleanup could not find it by label; a labelled volume is created
  before the container that mounts it. Podman still seeds it from the image the first time;
* forced removal: Docker's kills at once; Podman's compatibility layer first waits out the
  stop timeout (10 s) for a process that ignores SIGTERM, so a running container is killed
  first;
* label filters: Podman's ``label=key=`` (an empty value, as a plain login's project label
  has) matches every value of ``key``, so a plain session's leftover sweep found the user's
  project containers; every listing is checked again here against the exact values;
* exec: Podman refuses a user the container lacks at the API and says 127 for a missing
  working directory, where Docker says 126 for both;
* network creation: Podman reads the host's interfaces for a free subnet, and fails when
  one vanishes meanwhile (another bridge removed), so that failure is retried.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from podspawn.errors import Conflict, RuntimeFailure, RuntimeUnavailable, SubnetTaken
from podspawn.labels import carries
from podspawn.runtime import cgroups, podman_login
from podspawn.runtime.base import ContainerInfo, ContainerSpec, NetworkInfo
from podspawn.runtime.container_runtime import ContainerRuntime
from podspawn.runtime.docker import DockerEngine, _mapped, split_ref
from podspawn.runtime.engine_http import EngineSocket, filter_query
from podspawn.runtime.spec import ExecResult

if TYPE_CHECKING:
    import docker

#: The Docker API version Podman 4's compatibility layer speaks.
COMPAT_VERSION = "1.41"
#: What Podman says when an exec names a user the container's passwd lacks, or a missing
#: working directory.
_NO_USER = "unable to find user"
_NO_WORKDIR = b"chdir to cwd"
#: Go's answer when a network interface went away while Podman read the host's routes
#: (another bridge being removed): a race of the moment, so the creation is tried again.
_INTERFACE_RACE = "no such network interface"
#: Podman's own API, for what the compatibility layer lacks (any 4.x answers it).
LIBPOD = "/v4.0.0/libpod"


def client(socket: str = "") -> docker.DockerClient:
    """A docker SDK client talking to Podman's service at ``socket`` (the default one when
    empty).

    Raises:
        RuntimeUnavailable: nothing answers there.
    """
    import docker

    path = socket or podman_login.socket_path()
    made = docker.DockerClient(base_url=f"unix://{path}", version=COMPAT_VERSION, timeout=600)
    try:
        made.api.ping()
    except Exception as exc:  # the SDK raises requests' and its own errors alike here
        raise RuntimeUnavailable(podman_login.UNAVAILABLE, detail=f"ping {path}: {exc}") from exc
    return made


class PodmanEngine(DockerEngine):
    """:class:`~podspawn.runtime.container_engine.ContainerEngine` over rootful Podman."""

    name = "podman"
    unavailable = podman_login.UNAVAILABLE

    def __init__(self, client_: docker.DockerClient | None = None) -> None:
        super().__init__(client_)
        self._libpod_socket = EngineSocket(self._socket_path(), version=LIBPOD.strip("/"))

    def _socket_path(self) -> str:
        return podman_login.socket_path()

    def _connect(self) -> docker.DockerClient:
        return client()

    # images -----------------------------------------------------------------------------

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        """Podman 4.3's compatible import ignores the tag and names the image
        ``REPO:latest`` (moving that tag to it), so the image it made is tagged as asked."""
        repo, version = split_ref(tag)
        with _mapped(f"import image {tag}"):
            self._api.import_image_from_file(tar_path, repository=repo, tag=version)
        found = self.image_id(tag)
        made = self.image_id(f"{repo}:latest") if found is None else None
        if made is not None:
            with _mapped(f"tag image {tag}"):
                self._api.tag(made, repo, version)
            found = self.image_id(tag)
        if found is None:
            raise RuntimeFailure(f"importing {tag} produced no image")
        return found

    # containers -------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> ContainerInfo:
        for mount in spec.mounts:
            if mount.type == "volume" and mount.labels:
                self._ensure_volume(mount.source, mount.labels)
        return super().create(spec)

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
        """Docker's exit codes for a command that cannot start: 126 for a user or workdir
        that is not there (Podman refuses the first at the API and says 127 for the second),
        127 for a program that is not there."""
        try:
            result = super().exec(name_or_id, argv, user=user, env=env, workdir=workdir,
                                  stdin=stdin)
        except RuntimeFailure as exc:
            if _NO_USER not in str(exc.detail):
                raise
            return ExecResult(exit_code=126, output=f"{exc.message}\n".encode())
        if result.exit_code == 127 and _NO_WORKDIR in result.output:
            return ExecResult(exit_code=126, output=result.output)
        return result

    def remove(self, name_or_id: str, *, owner: Mapping[str, str]) -> None:
        info = self.inspect(name_or_id)
        if info is not None and info.running and carries(info.labels, owner):
            try:
                self._call(f"kill container {info.name}", "POST",
                           f"/containers/{info.id}/kill")
            except RuntimeFailure:
                pass  # it stopped meanwhile; the removal below says what is wrong, if anything
        super().remove(name_or_id, owner=owner)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        return [c for c in super().list_containers(labels) if exactly(c.labels, labels)]

    def _ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        """Create ``name`` with ``labels`` unless it exists (a workspace kept from an
        earlier session keeps its labels, as on Docker)."""
        by_name = filter_query({"name": [name]})
        found = self._call(f"list volumes named {name}", "GET", f"/volumes?filters={by_name}")
        if any(v.get("Name") == name for v in (found or {}).get("Volumes") or []):
            return
        self._call(f"create volume {name}", "POST", "/volumes/create",
                   {"Name": name, "Labels": dict(labels)})

    # images -----------------------------------------------------------------------------

    def _cgroup_parent(self, group: cgroups.BuildGroup) -> str:
        """A cgroup below the build's own: Podman's builder runs a step in the parent it is
        given and removes that directory afterwards, which would take the kernel's count
        of the build's processes (``pids.peak``) with it."""
        return f"{group.path}/steps"

    # networks ---------------------------------------------------------------------------

    def create_network(
        self, name: str, labels: Mapping[str, str], *, interface: str = "", subnet: str = ""
    ) -> NetworkInfo:
        existing = [n for n in self._libpod_networks({"name": [name]}) if n.name == name]
        for net in existing:
            if all(net.labels.get(k) == v for k, v in labels.items()):
                return net
        if existing:
            raise Conflict(
                f"a network called {name} exists but was not made by podspawn; "
                "remove it or rename it",
            )
        body: dict[str, Any] = {"name": name, "driver": "bridge", "labels": dict(labels),
                                "dns_enabled": True}
        if interface:
            body["network_interface"] = interface
        if subnet:
            body["subnets"] = [{"subnet": subnet}]
        for attempt in range(5):
            try:
                created = self._libpod(f"create network {name}", "POST", "/networks/create",
                                       body)
                break
            except RuntimeFailure as exc:
                if subnet and "already used" in str(exc.detail):
                    raise SubnetTaken(f"subnet {subnet} is taken", detail=exc.detail) from exc
                if _INTERFACE_RACE not in str(exc.detail) or attempt == 4:
                    raise
                time.sleep(0.2)
        return _network(created)

    def network_subnets(self) -> list[str]:
        rows = self._libpod("list networks", "GET", "/networks/json")
        return subnets_of(rows or [])

    def list_networks(self, labels: Mapping[str, str]) -> list[NetworkInfo]:
        found = self._libpod_networks({"label": [f"{k}={v}" for k, v in labels.items()]})
        return [n for n in found if exactly(n.labels, labels)]

    # volumes ----------------------------------------------------------------------------

    def list_volumes(self, labels: Mapping[str, str]) -> list[tuple[str, Mapping[str, str]]]:
        return [(name, found) for name, found in super().list_volumes(labels)
                if exactly(found, labels)]

    def _libpod_networks(self, filters: Mapping[str, list[str]]) -> list[NetworkInfo]:
        rows = self._libpod("list networks", "GET",
                            f"/networks/json?filters={filter_query(filters)}")
        return [_network(row) for row in rows or []]

    def _libpod(self, action: str, method: str, target: str, body: object = None) -> Any:
        """One request to Podman's own API, as ``_call`` sends the compatible one."""
        return self._call(action, method, target, body, socket=self._libpod_socket)


def libpod(api: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One request to Podman's own API through the SDK's session, errors raised as the SDK
    raises them (so ``_mapped`` translates them)."""
    response = getattr(api, f"_{method}")(api.base_url + LIBPOD + path, **kwargs)
    return api._result(response, json=True)


def subnets_of(rows: list[Mapping[str, Any]]) -> list[str]:
    """The IPv4 subnets of libpod's network listing."""
    return [str(sub.get("subnet")) for net in rows for sub in net.get("subnets") or []
            if "." in str(sub.get("subnet", ""))]


def exactly(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether ``labels`` has every pair of ``wanted``, an empty value as an empty value."""
    return all(labels.get(key) == value for key, value in wanted.items())


def _network(attrs: Mapping[str, Any]) -> NetworkInfo:
    return NetworkInfo(id=str(attrs["id"]), name=str(attrs["name"]),
                       labels=dict(attrs.get("labels") or {}),
                       interface=str(attrs.get("network_interface") or ""))


class PodmanRuntime(ContainerRuntime):
    """The session contract over the local rootful Podman."""

    name = "podman"
    login_module = "podspawn.runtime.podman_login"

    def __init__(self, client_: docker.DockerClient | None = None) -> None:
        super().__init__(PodmanEngine(client_))
