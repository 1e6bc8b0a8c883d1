"""The session contract carried out with containers and a bridge network (Docker, Podman).

One session is: a bridge network of its own (named by ``names.network_name``, its host
interface by ``names.bridge_name`` so the packet filter matches every session with one
pattern, its subnet cut from ``network.pool`` by ``podspawn.runtime.subnets``), its
companions started in order on it under their Podfile names, each waited for, and the
session container (``sleep infinity`` under an init) with the workspace volume the engine
seeds from the image the first time. Every object carries the session's labels
(``podspawn.labels``), the session id among them, so a half-made session is found by labels
alone. The state this returns names the objects by id:

    {"version": 2, "container": ID, "name": NAME, "network": NAME, "network_id": ID,
     "services": [ID, ...]}

Version 1 (the previous release, rebuilt from the session row's columns by
``lifecycle.engine_state``) has the same keys but ``name`` and ``network_id``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TypeVar

from podspawn import labels, log, names
from podspawn.errors import (
    AddressSpaceExhausted,
    Conflict,
    ImageUnavailable,
    PodspawnError,
    RuntimeFailure,
    SubnetTaken,
)
from podspawn.runtime.base import (
    Bind,
    CompanionSpec,
    ContainerSpec,
    EngineState,
    ExecResult,
    Found,
    ImageRecipe,
    Mount,
    NetworkInfo,
    ProbeSpec,
    SessionSpec,
    Status,
)
from podspawn.runtime.container_engine import ContainerEngine
from podspawn.runtime.session_names import object_name, spec_owner, volume_owner
from podspawn.runtime.spec import Hardening, Limits, Volume
from podspawn.runtime.subnets import AddressPool, Headroom, free_subnets, host_routes, pool_headroom

STATE_VERSION = 2
#: How often a session network looks again for a free subnet after concurrent logins took
#: the ones it chose.
_SUBNET_ROUNDS = 5
#: A companion's readiness is checked at once, then after pauses doubling from the first to
#: the last (seconds): most are ready within a few tens of milliseconds of their start.
_READY_PAUSE_MIN = 0.01
_READY_PAUSE_MAX = 0.2
Stage = Callable[[CompanionSpec], tuple[Bind, ...]]
Progress = Callable[[str], None]
T = TypeVar("T")


def alongside(work: Callable[[], T], here: Callable[[], None]) -> T:
    """Run ``work`` in a thread while ``here`` runs in this one, and return ``work``'s result
    once both are done; an error of ``here`` wins over one of ``work``.

    The thread is always waited for, even when an error (a signal's among them) interrupts
    ``here`` or the wait: a rollback after it then sees everything ``work`` made.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name="podspawn-alongside", daemon=True)
    thread.start()
    try:
        here()
    finally:
        _join(thread)
    if failure:
        raise failure[0]
    return outcome[0]


def _join(thread: threading.Thread) -> None:
    """Wait for ``thread`` to end; an error raised during the wait is raised after it."""
    interrupted: BaseException | None = None
    while thread.is_alive():
        try:
            thread.join()
        except BaseException as exc:  # e.g. the login's signal handler; re-raised below
            interrupted = interrupted or exc
    if interrupted is not None:
        raise interrupted


def session_container(spec: SessionSpec, *, network: str,
                      session_labels: Mapping[str, str]) -> ContainerSpec:
    """The session container of ``spec``, as plain data (tested without an engine)."""
    mounts: list[Mount] = []
    if spec.home is not None:
        mounts.append(Mount(target=spec.home.target, source=spec.home.source))
    if spec.workspace:
        mounts.append(Mount(
            target=spec.workspace,
            source=object_name(spec, "workspace"),
            type="volume",
            labels={**volume_owner(spec), labels.ROLE: "workspace", **spec.labels},
        ))
    mounts += _volume_mounts(spec, spec.volumes)
    mounts += [Mount(target=bind.target, source=bind.source) for bind in spec.binds]
    return _constrained(ContainerSpec(
        name=object_name(spec, "session"),
        image=spec.image,
        hostname=spec.hostname,
        labels={**session_labels, labels.ROLE: "session"},
        network=network,
        aliases=(spec.hostname,),
        env=dict(spec.env),
        mounts=tuple(mounts),
        published=spec.published,
    ), spec.limits, spec.hardening)


def _volume_mounts(spec: SessionSpec, volumes: tuple[Volume, ...]) -> list[Mount]:
    owner = volume_owner(spec)
    return [
        Mount(target=volume.target,
              source=object_name(spec, "volume", volume.name),
              type="volume", read_only=volume.read_only,
              labels={**owner, labels.ROLE: "volume", **spec.labels})
        for volume in volumes
    ]


def companion_container(spec: SessionSpec, companion: CompanionSpec, *, network: str,
                        session_labels: Mapping[str, str], binds: tuple[Bind, ...] = ()
                        ) -> ContainerSpec:
    """One companion's container, as plain data. ``binds`` are the staged host binds,
    mounted as given: a staging mount already carries ``ro``, ``nosuid`` and ``nodev``, and
    an engine remount for ``ro`` would drop the other two."""
    # a volume outlives the session that made it, so it carries no session id: the next
    # session mounts it as it is, and only remove-user removes it
    mounts = _volume_mounts(spec, companion.volumes)
    mounts += [Mount(target=bind.target, source=bind.source) for bind in binds]
    return _constrained(ContainerSpec(
        name=object_name(spec, "service", companion.name),
        image=companion.image,
        labels={**session_labels, labels.ROLE: "service", labels.SERVICE: companion.name},
        network=network,
        aliases=(companion.name,),
        command=tuple(companion.command or ()),
        env=dict(companion.env),
        mounts=tuple(mounts),
        init=False,
    ), companion.limits, companion.hardening)


def probe_container(spec: ProbeSpec) -> ContainerSpec:
    """A check container: no network, no capabilities, no new privileges, small limits."""
    return _constrained(ContainerSpec(
        name=spec.name,
        image=spec.image,
        labels=dict(spec.labels),
        command=("sleep", str(spec.lifetime)),
        network="none",
    ), spec.limits, Hardening(cap_drop=("ALL",), no_new_privileges=True))


def _constrained(base: ContainerSpec, limits: Limits, hardening: Hardening) -> ContainerSpec:
    return replace(
        base,
        # round, not int: int() would make 2.01 CPUs 2009999999 nano-CPUs
        nano_cpus=round(limits.cpus * 1e9),
        memory=limits.memory,
        pids_limit=limits.pids,
        cap_drop=hardening.cap_drop,
        cap_add=hardening.cap_add,
        security_opt=("no-new-privileges:true",) if hardening.no_new_privileges else (),
        read_only=hardening.read_only,
        tmpfs=dict(hardening.tmpfs),
        runtime=hardening.oci_runtime,
    )


def require_ours(owner: Mapping[str, str]) -> None:
    """Refuse an owner that does not name podspawn: every object carries an empty mapping,
    so a removal checked against one would take anything.

    Raises:
        Conflict: ``owner`` lacks ``managed-by: podspawn``.
    """
    if owner.get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
        raise Conflict(
            "refusing to remove engine objects for an owner that does not name podspawn; "
            "report this to the podspawn developers",
            detail=f"owner {dict(owner)} lacks {labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}",
        )


class ContainerRuntime:
    """:class:`podspawn.runtime.base.Runtime` over a :class:`ContainerEngine`."""

    name = "containers"
    login_module = ""

    def __init__(self, engine: ContainerEngine) -> None:
        self.engine = engine

    # -- sessions -------------------------------------------------------------------------

    def start_session(self, spec: SessionSpec, *, stage: Stage | None = None,
                      progress: Progress | None = None,
                      meanwhile: Callable[[EngineState], None] | None = None) -> EngineState:
        owner = spec_owner(spec)
        session_labels = {**owner, labels.SESSION: spec.session_id, **spec.labels}
        name = object_name(spec, "session")
        net_name = object_name(spec, "network")
        self._clear_leftovers(owner, spec.session_id, name=name, network=net_name)
        volumes_before = {v for v, _ in self.engine.list_volumes(volume_owner(spec))}
        network = self._create_network(spec, net_name, {**session_labels, labels.ROLE: "network"})
        made: list[tuple[str, str]] = []  # (id, role), in the order they were made
        state: EngineState = {"version": STATE_VERSION, "container": "", "name": name,
                              "network": network.name, "network_id": network.id,
                              "services": []}

        def session() -> None:
            container = self.engine.create(
                session_container(spec, network=network.name, session_labels=session_labels))
            made.append((container.id, "session"))
            state["container"] = container.id
            self.engine.start(container.id)
            self._require_running(container.id, f"the session container of {spec.image}")
            if meanwhile is not None:
                meanwhile(dict(state))

        # the session container runs only ``sleep`` until the user's first command, so it is
        # made and started while the companions start (in order) and get ready
        try:
            services: list[str] = []
            if spec.companions:
                services = alongside(
                    lambda: [self._start_companion(spec, companion, network.name,
                                                   session_labels, stage, progress, made)
                             for companion in spec.companions], session)
            else:
                session()
        except BaseException:
            self._roll_back(made, session_labels, network.id, volume_owner(spec),
                            volumes_before)
            raise
        return {**state, "services": services}

    def _create_network(self, spec: SessionSpec, name: str,
                        net_labels: Mapping[str, str]) -> NetworkInfo:
        """The session's bridge, on a free subnet of ``spec.address_pool`` when it has one.

        Raises:
            AddressSpaceExhausted: every subnet of the pool is in use.
        """
        interface = names.bridge_name(spec.install_id, name)
        pool = spec.address_pool
        if pool is None:
            return self.engine.create_network(name, net_labels, interface=interface)
        taken = self._taken()
        for _ in range(_SUBNET_ROUNDS):
            for subnet in free_subnets(pool, taken, key=name):
                try:
                    return self.engine.create_network(name, net_labels, interface=interface,
                                                      subnet=subnet)
                except SubnetTaken:
                    break  # another login was quicker: look again at what is taken now
            else:
                break
            taken = self._taken()
        room = pool_headroom([pool], taken)
        log.error("address pool used up", pool=pool.base, subnet_size=pool.size,
                  networks=room.capacity)
        raise AddressSpaceExhausted(
            "no address space is left for a new session network: all "
            f"{room.capacity} subnets of the server's network.pool are in use; ask the "
            "admin to widen network.pool or end unused sessions",
            detail=f"network.pool {pool.base} with network.subnet_size {pool.size}",
        )

    def _taken(self) -> list[str]:
        return [*self.engine.network_subnets(), *host_routes()]

    def network_headroom(self, pool: AddressPool) -> Headroom:
        return pool_headroom([pool], self._taken())

    def _require_running(self, container: str, what: str) -> None:
        """Refuse a container that the engine started but that stopped at once (its program
        is missing, or exits): a start that returns must leave the session running."""
        info = self.engine.inspect(container)
        if info is None or not info.running:
            raise RuntimeFailure(
                f"{what} stopped as soon as it started, so it cannot hold a session: the image "
                "needs /bin/sh and sleep, and no ENTRYPOINT that exits",
                detail=f"container {container} is {info.state if info else 'gone'}",
            )

    def _roll_back(self, made: list[tuple[str, str]], session_labels: Mapping[str, str],
                   network: str, owner: Mapping[str, str], volumes_before: set[str]) -> None:
        """Remove what a failed start made: its containers, its network and the volumes it
        created (a volume that existed before belongs to earlier sessions and stays)."""
        for target, role in reversed(made):
            self._quietly(target, {**session_labels, labels.ROLE: role})
        try:
            self.engine.remove_network(network, owner={**session_labels, labels.ROLE: "network"})
        except PodspawnError as exc:
            log.error("rollback of a network failed", network=network,
                      error=exc.detail or exc.message)
        try:
            for volume, _ in self.engine.list_volumes(owner):
                if volume not in volumes_before:
                    self.engine.remove_volume(volume, owner=owner)
        except PodspawnError as exc:
            log.error("rollback of a volume failed", error=exc.detail or exc.message)

    def _start_companion(
        self, spec: SessionSpec, companion: CompanionSpec, network: str,
        session_labels: Mapping[str, str], stage: Stage | None, progress: Progress | None,
        made: list[tuple[str, str]],
    ) -> str:
        if progress:
            progress(f"  Starting companion service: {companion.name} ({companion.image})...")
        if companion.binds and stage is None:
            raise RuntimeFailure(
                f"companion service {companion.name} asks for host binds that nothing checked; "
                "report this to the podspawn developers",
            )
        binds = stage(companion) if stage is not None and companion.binds else ()
        container = companion_container(spec, companion, network=network,
                                        session_labels=session_labels, binds=binds)
        # a leftover of this very (user, project) and service, from any earlier session
        self.engine.remove(container.name, owner={
            k: v for k, v in container.labels.items() if k not in (labels.SESSION, labels.MODE)})
        info = self.engine.create(container)
        made.append((info.id, "service"))
        self.engine.start(info.id)
        self._wait_ready(info.id, companion)
        if progress:
            progress(f"  Starting companion service: {companion.name} ({companion.image})... "
                     "done")
        return info.id

    def _clear_leftovers(self, owner: Mapping[str, str], session_id: str, *, name: str,
                         network: str) -> None:
        """Remove what another session of this (user, project) left (a crash); anything
        else under the session's names is refused by the owner check.

        Raises:
            Conflict: a container or network of the session's name is someone else's.
        """
        for info in self.engine.list_containers(owner):
            if info.labels.get(labels.SESSION) != session_id:
                self.engine.remove(info.id, owner=owner)
        self.engine.remove(name, owner={**owner, labels.ROLE: "session"})
        self.engine.remove_network(network, owner={**owner, labels.ROLE: "network"})

    def _wait_ready(self, container: str, companion: CompanionSpec) -> None:
        deadline = time.monotonic() + companion.ready_timeout
        pause = _READY_PAUSE_MIN
        while True:
            info = self.engine.inspect(container)
            if info is None or info.state in ("exited", "dead"):
                raise RuntimeFailure(
                    f"companion service {companion.name} stopped right after starting; check "
                    "its image and env in the Podfile"
                )
            if self._is_ready(container, companion):
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"companion service {companion.name} was not ready after "
                    f"{companion.ready_timeout:g}s; check its 'ready' command or raise "
                    "ready_timeout"
                )
            time.sleep(pause)
            pause = min(pause * 2, _READY_PAUSE_MAX)

    def _is_ready(self, container: str, companion: CompanionSpec) -> bool:
        if companion.ready:
            return self.engine.exec(container, ["sh", "-c", companion.ready]).exit_code == 0
        if not companion.ports:
            return True
        address = self.engine.address(container)
        if not address:
            return False
        for port in companion.ports:
            try:
                with socket.create_connection((address, port), timeout=1):
                    pass
            except OSError:
                return False
        return True

    def poll(self, state: EngineState) -> Status:
        container = str(state.get("container") or "")
        if not container:
            return "gone"
        info = self.engine.inspect(container)
        if info is None:
            return "gone"
        return "running" if info.running else "stopped"

    def resume(self, state: EngineState) -> None:
        for target in [*(state.get("services") or []), state.get("container")]:
            if target:
                self.engine.start(str(target))

    def stop_session(self, state: EngineState, *, owner: Mapping[str, str]) -> list[str]:
        require_ours(owner)
        failures: list[str] = []
        targets = [(str(s), "service") for s in state.get("services") or [] if s]
        if state.get("container"):
            targets.insert(0, (str(state["container"]), "session"))
        network = str(state.get("network_id") or state.get("network") or "")
        networks = [network] if network else []
        if owner.get(labels.SESSION):  # what a session ended mid-start made, by its labels
            try:
                known = {t for t, _ in targets}
                targets += [(info.id, "") for info in self.engine.list_containers(owner)
                            if info.id not in known]
                networks += [n.id for n in self.engine.list_networks(owner)
                             if network not in (n.id, n.name)]
            except PodspawnError as exc:
                failures.append(f"listing: {exc.detail or exc.message}")
        for target, role in targets:
            try:
                self.engine.remove(target, owner={**owner, labels.ROLE: role} if role else owner)
            except PodspawnError as exc:
                failures.append(f"{target}: {exc.detail or exc.message}")
        for net in networks:
            try:
                self.engine.remove_network(net, owner={**owner, labels.ROLE: "network"})
            except PodspawnError as exc:
                failures.append(f"{net}: {exc.detail or exc.message}")
        return failures

    def exec(self, state: EngineState, argv: list[str], *, user: str = "root",
             env: Mapping[str, str] | None = None, workdir: str = "",
             stdin: bytes | None = None) -> ExecResult:
        container = str(state.get("container") or "")
        if not container:
            raise RuntimeFailure("this session has no container yet")
        return self.engine.exec(container, argv, user=user, env=env, workdir=workdir,
                                stdin=stdin)

    # -- what carries our labels ----------------------------------------------------------

    def find(self, labels: Mapping[str, str]) -> list[Found]:
        found = [Found(kind="container", id=c.id, name=c.name, labels=c.labels,
                       running=c.running) for c in self.engine.list_containers(labels)]
        found += [Found(kind="network", id=n.id, name=n.name, labels=n.labels,
                        interface=n.interface) for n in self.engine.list_networks(labels)]
        found += [Found(kind="volume", id=name, name=name, labels=dict(volume_labels))
                  for name, volume_labels in self.engine.list_volumes(labels)]
        return found

    def remove(self, found: Found, *, owner: Mapping[str, str]) -> None:
        require_ours(owner)
        if found.kind == "container":
            self.engine.remove(found.id, owner=owner)
        elif found.kind == "network":
            self.engine.remove_network(found.id, owner=owner)
        else:
            self.engine.remove_volume(found.name, owner=owner)

    # -- images ---------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        return self.engine.image_id(ref)

    def pull(self, ref: str) -> str:
        return self.engine.pull(ref)

    def build(self, recipe: ImageRecipe, *, on_output: Progress | None = None) -> str:
        return self.engine.build(recipe.tag, recipe.dockerfile, labels=recipe.labels,
                                 files=recipe.files, context_dirs=recipe.context_dirs,
                                 on_output=on_output, limits=recipe.limits,
                                 options=recipe.options)

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        return self.engine.import_rootfs(tar_path, tag)

    # -- checks ---------------------------------------------------------------------------

    def probe(self, spec: ProbeSpec, commands: list[list[str]], *,
              env: Mapping[str, str] | None = None) -> list[ExecResult]:
        if self.engine.image_id(spec.image) is None:
            raise ImageUnavailable(
                f"image {spec.image} is not on this server; pull or build it first (podspawn "
                "images bootstrap makes debian:* and ubuntu:* images)"
            )
        owner = dict(spec.labels)
        try:
            info = self.engine.create(probe_container(spec))
            self.engine.start(info.id)
            self._require_probe_running(info.id, spec.image)
            results = [self._probe_exec(info.id, argv, env) for argv in commands]
            # a missing ``sleep`` may fail only after the start returned, so the container
            # looked running a moment: the answers count only if it still runs now
            self._require_probe_running(info.id, spec.image)
            return results
        finally:
            self._quietly(spec.name, owner)

    def _require_probe_running(self, container: str, image: str) -> None:
        current = self.engine.inspect(container)
        if current is None or not current.running:
            raise RuntimeFailure(
                f"a container of {image} stopped as soon as it started, so it cannot "
                "hold a session: the image needs /bin/sh and sleep (Debian packages dash "
                "and coreutils)"
            )

    def _probe_exec(self, container: str, argv: list[str],
                    env: Mapping[str, str] | None) -> ExecResult:
        """A command the engine cannot even start (no such program) answers 127, as a shell's
        "command not found" does: for a check that is an answer, not an error."""
        try:
            return self.engine.exec(container, argv, env=env)
        except RuntimeFailure as exc:
            return ExecResult(exit_code=127, output=exc.message.encode())

    def sweep_probes(self, labels: Mapping[str, str]) -> int:
        removed = 0
        for info in self.engine.list_containers(labels):
            if info.state not in ("exited", "dead"):
                continue
            try:
                self.engine.remove(info.id, owner=labels)
                removed += 1
            except PodspawnError as exc:
                log.error("could not remove a stale check container", name=info.name,
                          error=exc.detail or exc.message)
        return removed

    def _quietly(self, target: str, owner: Mapping[str, str]) -> None:
        """A removal while another error is on its way out: log a failure, never mask it."""
        try:
            self.engine.remove(target, owner=owner)
        except PodspawnError as exc:
            log.error("rollback step failed", target=target, error=exc.detail or exc.message)
