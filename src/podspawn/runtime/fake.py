"""An in-memory :class:`~podspawn.runtime.base.Runtime` for tests, with failures on demand.

It keeps the contract's promises the way the real backends do, so that the services' logic
(rollback, reattach, reconcile, cleanup, remove-user) can be tested with no engine, and so
that ``tests/contract`` holds it to the same suite as Docker: sessions with companions on a
private network (reachable by name), named volumes that outlive sessions, labels and the
owner check on every removal, images and builds, probes. Containers run a handful of
programs (``true``, ``false``, ``echo``, ``printenv``, ``id -un``, ``pwd``, ``hostname``,
``getent hosts``, ``cat``, ``tee``, ``mkdir -p``); anything else answers 127 unless a test
registers a handler (:meth:`FakeRuntime.on_exec`).

Failures a test can inject: an image that cannot start (a Dockerfile ``USER`` the image
lacks, as on a real engine, or :meth:`FakeRuntime.add_image` with ``starts="exits"`` for one
whose program exits at once), a failing build step (:meth:`FakeRuntime.fail_step`), a
container that vanishes or stops behind the runtime's back (:meth:`FakeRuntime.vanish`,
:meth:`FakeRuntime.halt`), an object that cannot be removed (:attr:`FakeRuntime.stuck`), a
companion that is slow to get ready (:attr:`FakeRuntime.ready_delay`) and an engine that is
down (:attr:`FakeRuntime.down`).

It is not in ``runtime.BACKENDS``: a server can never run on it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, TypeVar

from podspawn import labels, names
from podspawn.errors import (
    AddressSpaceExhausted,
    BuildLimitReached,
    Conflict,
    ImageUnavailable,
    PodspawnError,
    RuntimeFailure,
    RuntimeUnavailable,
)
from podspawn.runtime import fake_login
from podspawn.runtime.base import ImageRecipe, Runtime
from podspawn.runtime.fake_world import (
    DIRS,
    ExecCall,
    FakeContainer,
    FakeImage,
    FakeNetwork,
    FakeVolume,
    Starts,
    run_program,
)
from podspawn.runtime.session_names import object_name, spec_owner, volume_owner
from podspawn.runtime.spec import (
    Bind,
    CompanionSpec,
    EngineState,
    ExecResult,
    Found,
    ProbeSpec,
    SessionSpec,
    Status,
    Volume,
)
from podspawn.runtime.subnets import AddressPool, Headroom, free_subnets, pool_headroom

STATE_VERSION = 1
_Labelled = TypeVar("_Labelled", "FakeContainer", "FakeNetwork")
_ids = itertools.count(1)


def _new_id(kind: str) -> str:
    return hashlib.sha256(f"{kind}:{next(_ids)}:{os.getpid()}".encode()).hexdigest()


ExecHandler = Callable[[ExecCall], "ExecResult | None"]


class FakeRuntime:
    """The session contract in memory. See the module docstring for what it can fake."""

    name = "fake"
    login_module = "podspawn.runtime.fake_login"

    def __init__(self) -> None:
        self.world = _new_id("world")[:12]
        self.images: dict[str, FakeImage] = {}
        """By id; refs live in each image."""
        self.pullable: dict[str, FakeImage] = {}
        """What a registry would give ``pull``, by ref."""
        self.containers: dict[str, FakeContainer] = {}
        self.networks: dict[str, FakeNetwork] = {}
        self.volumes: dict[str, FakeVolume] = {}
        self.ready_delay: dict[str, float] = {}
        """Companion name -> seconds before it is ready (a slow start)."""
        self.stuck: set[str] = set()
        """Names of objects whose removal the engine refuses (in use, a daemon error)."""
        self.down = False
        """True: every call raises RuntimeUnavailable, as with dockerd stopped."""
        self.execs: list[ExecCall] = []
        self._handlers: list[ExecHandler] = []
        self._failing_steps: list[tuple[str, int, str]] = []
        self._addresses = itertools.count(2)
        fake_login.WORLDS[self.world] = self

    # -- what tests arrange ---------------------------------------------------------------

    def add_image(self, ref: str, *, starts: Starts = "ok", user: str = "",
                  command: tuple[str, ...] = (),
                  labels: Mapping[str, str] | None = None) -> str:
        """Put image ``ref`` on the server; returns its id."""
        image = FakeImage(id="sha256:" + _new_id("image"), refs={ref}, user=user,
                          labels=dict(labels or {}), starts=starts, command=command)
        self._tag(image, ref)
        return image.id

    def fail_step(self, text: str, *, code: int = 1, limit: str = "") -> None:
        """Make every build step whose line contains ``text`` fail with exit ``code`` (or,
        with ``limit`` ``memory``/``pids``, be stopped by that build limit)."""
        self._failing_steps.append((text, code, limit))

    def on_exec(self, handler: ExecHandler, *, first: bool = False) -> None:
        """Answer commands with ``handler`` (before the others with ``first``) ahead of the
        built-in programs; it returns None to pass a command on."""
        self._handlers.insert(0 if first else len(self._handlers), handler)

    def vanish(self, name_or_id: str) -> None:
        """Remove a container behind the runtime's back (``docker rm -f`` by someone)."""
        container = self._container(name_or_id)
        if container is not None:
            del self.containers[container.id]

    def halt(self, name_or_id: str) -> None:
        """Stop a container behind the runtime's back (an engine restart)."""
        container = self._container(name_or_id)
        if container is not None:
            container.state = "exited"

    def squat(self, kind: Literal["container", "network"], name: str,
              labels: Mapping[str, str] | None = None) -> str:
        """Make an object of ``name`` that is not podspawn's (someone else's)."""
        if kind == "network":
            net = FakeNetwork(id=_new_id("network"), name=name, labels=dict(labels or {}),
                              interface="")
            self.networks[net.id] = net
            return net.id
        image = next(iter(self.images.values()), None) or FakeImage(id="scratch", refs=set())
        return self._create(name, image, dict(labels or {}), network="").id

    # -- sessions -------------------------------------------------------------------------

    def start_session(self, spec: SessionSpec, *,
                      stage: Callable[[CompanionSpec], tuple[Bind, ...]] | None = None,
                      progress: Callable[[str], None] | None = None,
                      meanwhile: Callable[[EngineState], None] | None = None) -> EngineState:
        self._up()
        owner = spec_owner(spec)
        vowner = volume_owner(spec)
        session_labels = {**owner, labels.SESSION: spec.session_id, **spec.labels}
        name = object_name(spec, "session")
        net_name = object_name(spec, "network")
        self._clear_leftovers(owner, spec.session_id, name, net_name)
        before = {v.name for v in self.volumes.values() if labels.carries(v.labels, vowner)}
        made: list[str] = []
        network = self._network(net_name, {**session_labels, labels.ROLE: "network"},
                                names.bridge_name(spec.install_id, net_name),
                                self._subnet(spec.address_pool, net_name))
        try:
            services = [self._companion(spec, c, net_name, session_labels, stage, progress,
                                        made) for c in spec.companions]
            volumes: dict[str, str] = {}
            if spec.workspace:
                volumes[spec.workspace] = self._volume(
                    object_name(spec, "workspace"),
                    {**vowner, labels.ROLE: "workspace", **spec.labels})
            volumes.update(self._named_volumes(spec, spec.volumes))
            binds = {b.target: b.source for b in spec.binds}
            if spec.home:
                binds[spec.home.target] = spec.home.source
            container = self._create(
                name, self._image(spec.image), {**session_labels, labels.ROLE: "session"},
                network=net_name, aliases=(spec.hostname,), hostname=spec.hostname,
                env=dict(spec.env), volumes=volumes, binds=binds)
            made.append(container.id)
            self._start(container)
            if container.state != "running":
                raise RuntimeFailure(f"the session container of {spec.image} stopped as soon "
                                     "as it started; the image needs /bin/sh and sleep")
            if meanwhile is not None:
                meanwhile({"version": STATE_VERSION, "world": self.world,
                           "container": container.id, "name": name, "network": net_name,
                           "services": []})
        except BaseException:
            for made_id in reversed(made):
                self.containers.pop(made_id, None)
            self.networks.pop(network.id, None)
            for volume in [v for v in self.volumes.values()
                           if labels.carries(v.labels, vowner) and v.name not in before]:
                del self.volumes[volume.name]
            raise
        return {"version": STATE_VERSION, "world": self.world, "container": container.id,
                "name": name, "network": net_name, "services": services}

    def _named_volumes(self, spec: SessionSpec, volumes: tuple[Volume, ...]) -> dict[str, str]:
        owner = volume_owner(spec)
        return {v.target: self._volume(object_name(spec, "volume", v.name),
                                       {**owner, labels.ROLE: "volume", **spec.labels})
                for v in volumes}

    def _clear_leftovers(self, owner: Mapping[str, str], session_id: str, name: str,
                         network: str) -> None:
        for container in self._carrying(self.containers.values(), owner):
            if container.labels.get(labels.SESSION) != session_id:
                self._remove_container(container.id, owner)
        self._remove_container(name, {**owner, labels.ROLE: "session"})
        self._remove_network(network, {**owner, labels.ROLE: "network"})

    def _companion(self, spec: SessionSpec, companion: CompanionSpec, network: str,
                   session_labels: Mapping[str, str],
                   stage: Callable[[CompanionSpec], tuple[Bind, ...]] | None,
                   progress: Callable[[str], None] | None, made: list[str]) -> str:
        if progress:
            progress(f"  Starting companion service: {companion.name} ({companion.image})...")
        if companion.binds and stage is None:
            raise RuntimeFailure(f"companion service {companion.name} asks for host binds "
                                 "that nothing checked; report this to the podspawn developers")
        binds = stage(companion) if stage is not None and companion.binds else ()
        owner = spec_owner(spec)
        volumes = self._named_volumes(spec, companion.volumes)
        image = self._image(companion.image)
        if not companion.command and not image.command:
            raise RuntimeFailure(f"could not create companion service {companion.name}: No "
                                 "command specified")
        name = object_name(spec, "service", companion.name)
        role = {**owner, labels.ROLE: "service", labels.SERVICE: companion.name}
        self._remove_container(name, role)
        container = self._create(
            name, image, {**session_labels, labels.ROLE: "service", labels.SERVICE: companion.name},
            network=network, aliases=(companion.name,), env=dict(companion.env),
            volumes=volumes, binds={b.target: b.source for b in binds})
        made.append(container.id)
        self._start(container)
        if container.state != "running":
            raise RuntimeFailure(f"companion service {companion.name} stopped right after "
                                 "starting; check its image and env in the Podfile")
        delay = self.ready_delay.get(companion.name, 0.0)
        if delay > companion.ready_timeout:
            time.sleep(companion.ready_timeout)
            raise RuntimeFailure(
                f"companion service {companion.name} was not ready after "
                f"{companion.ready_timeout:g}s; check its 'ready' command or raise ready_timeout")
        time.sleep(delay)
        return container.id

    def poll(self, state: EngineState) -> Status:
        container = self.containers.get(str(state.get("container") or ""))
        if not state.get("container"):
            return "gone"
        self._up()
        if container is None:
            return "gone"
        return "running" if container.state == "running" else "stopped"

    def resume(self, state: EngineState) -> None:
        self._up()
        for target in [*(state.get("services") or []), state.get("container")]:
            container = self.containers.get(str(target or ""))
            if container is None:
                raise RuntimeFailure(f"container {target} of this session is gone; it cannot "
                                     "be started again")
            self._start(container)
            if container.state != "running":
                raise RuntimeFailure(f"container {container.name} stopped right after starting")

    def stop_session(self, state: EngineState, *, owner: Mapping[str, str]) -> list[str]:
        _require_ours(owner)
        self._up()
        targets = [(str(s), "service") for s in state.get("services") or [] if s]
        if state.get("container"):
            targets.insert(0, (str(state["container"]), "session"))
        by_session = bool(owner.get(labels.SESSION))
        if by_session:
            known = {t for t, _ in targets}
            targets += [(c.id, "") for c in self._carrying(self.containers.values(), owner)
                        if c.id not in known]
        failures: list[str] = []
        for target, role in targets:
            try:
                self._remove_container(target, {**owner, labels.ROLE: role} if role else owner)
            except PodspawnError as exc:
                failures.append(f"{target}: {exc.message}")
        nets = [str(state["network"])] if state.get("network") else []
        if by_session:
            nets += [n.id for n in self._carrying(self.networks.values(), owner)]
        for net in nets:
            try:
                self._remove_network(net, {**owner, labels.ROLE: "network"})
            except PodspawnError as exc:
                failures.append(f"{net}: {exc.message}")
        return failures

    def exec(self, state: EngineState, argv: list[str], *, user: str = "root",
             env: Mapping[str, str] | None = None, workdir: str = "",
             stdin: bytes | None = None) -> ExecResult:
        self._up()
        target = str(state.get("container") or "")
        if not target:
            raise RuntimeFailure("this session has no container yet")
        container = self.containers.get(target)
        if container is None or container.state != "running":
            raise RuntimeFailure(f"container {target} is not running")
        return self._run(container, argv, user, env or {}, workdir, stdin)

    # -- what carries our labels ----------------------------------------------------------

    def find(self, labels: Mapping[str, str]) -> list[Found]:
        self._up()
        found = [Found(kind="container", id=c.id, name=c.name, labels=dict(c.labels),
                       running=c.state == "running")
                 for c in self.containers.values() if _exactly(c.labels, labels)]
        found += [Found(kind="network", id=n.id, name=n.name, labels=dict(n.labels),
                        interface=n.interface)
                  for n in self.networks.values() if _exactly(n.labels, labels)]
        found += [Found(kind="volume", id=v.name, name=v.name, labels=dict(v.labels))
                  for v in self.volumes.values() if _exactly(v.labels, labels)]
        return found

    def remove(self, found: Found, *, owner: Mapping[str, str]) -> None:
        _require_ours(owner)
        self._up()
        if found.kind == "container":
            self._remove_container(found.id, owner)
        elif found.kind == "network":
            self._remove_network(found.id, owner)
        else:
            self._remove_volume(found.name, owner)

    # -- images ---------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        self._up()
        image = self._find_image(ref) if ref else None
        return image.id if image is not None else None

    def pull(self, ref: str) -> str:
        self._up()
        source = self.pullable.get(ref)
        if source is None:
            raise ImageUnavailable(f"image {ref} is not on this server and cannot be pulled")
        self._tag(source, ref)
        return source.id

    def build(self, recipe: ImageRecipe, *, on_output: Callable[[str], None] | None = None
              ) -> str:
        self._up()
        steps = [line.strip() for line in recipe.dockerfile.splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        base: FakeImage | None = None
        user = ""
        for number, line in enumerate(steps, 1):
            step = f"Step {number}/{len(steps)} : {line}"
            if on_output is not None:
                on_output(step)
            word, _, rest = line.partition(" ")
            if word.upper() == "FROM":
                base = self._find_image(rest.split()[0])
                if base is None:
                    raise RuntimeFailure(f"building {recipe.tag} failed at {step}: pull access "
                                         f"denied for {rest.split()[0]}")
                user = base.user
            elif word.upper() == "USER":
                user = rest.strip()
            for text, code, limit in self._failing_steps:
                if text in line:
                    if limit:
                        raise BuildLimitReached(
                            f"building {recipe.tag} reached its {limit} limit at {step}",
                            limit=limit, step=step)
                    raise RuntimeFailure(
                        f"building {recipe.tag} failed at {step}: The command returned a "
                        f"non-zero code: {code}")
        if base is None:
            raise RuntimeFailure(f"building {recipe.tag} failed: the Dockerfile has no FROM")
        image = FakeImage(id="sha256:" + _new_id("image"), refs=set(), user=user,
                          users=base.users, starts=base.starts, command=base.command,
                          labels={**base.labels, **recipe.labels})
        self._tag(image, recipe.tag)
        return image.id

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        self._up()
        if not os.path.isfile(tar_path):
            raise RuntimeFailure(f"importing {tag} failed: no file {tar_path}")
        return self.add_image(tag)

    # -- checks ---------------------------------------------------------------------------

    def probe(self, spec: ProbeSpec, commands: list[list[str]], *,
              env: Mapping[str, str] | None = None) -> list[ExecResult]:
        self._up()
        image = self._find_image(spec.image)
        if image is None:
            raise ImageUnavailable(f"image {spec.image} is not on this server; pull or build "
                                   "it first")
        container = self._create(spec.name, image, dict(spec.labels), network="none")
        try:
            self._start(container)
            if container.state != "running":
                raise RuntimeFailure(f"a container of {spec.image} stopped as soon as it "
                                     "started, so it cannot hold a session")
            return [self._run(container, argv, "root", env or {}, "", None)
                    for argv in commands]
        finally:
            self.containers.pop(container.id, None)

    def sweep_probes(self, labels: Mapping[str, str]) -> int:
        self._up()
        stale = [c for c in self.containers.values()
                 if c.state != "running" and _exactly(c.labels, labels)]
        for container in stale:
            self._remove_container(container.id, labels)
        return len(stale)

    # -- the engine's objects -------------------------------------------------------------

    def _up(self) -> None:
        if self.down:
            raise RuntimeUnavailable("the fake engine is down")

    def _tag(self, image: FakeImage, ref: str) -> None:
        for other in self.images.values():
            other.refs.discard(ref)
        image.refs.add(ref)
        self.images[image.id] = image

    def _find_image(self, ref: str) -> FakeImage | None:
        if ref in self.images:
            return self.images[ref]
        if ":" not in ref.rsplit("/", 1)[-1]:
            ref += ":latest"
        return next((i for i in self.images.values() if ref in i.refs), None)

    def _image(self, ref: str) -> FakeImage:
        image = self._find_image(ref)
        if image is None:
            raise ImageUnavailable(f"image {ref} is not on this server",
                                   detail=f"no such image: {ref}")
        return image

    def _container(self, name_or_id: str) -> FakeContainer | None:
        return self.containers.get(name_or_id) or next(
            (c for c in self.containers.values() if c.name == name_or_id), None)

    def _create(self, name: str, image: FakeImage, object_labels: dict[str, str], *,
                network: str, aliases: tuple[str, ...] = (), hostname: str = "",
                env: dict[str, str] | None = None, volumes: dict[str, str] | None = None,
                binds: dict[str, str] | None = None) -> FakeContainer:
        if self._container(name) is not None:
            raise Conflict(f"a container named {name} exists already")
        container = FakeContainer(
            id=_new_id("container"), name=name, image=image, labels=object_labels,
            network=network, aliases=aliases, hostname=hostname or name[:12],
            env=env or {}, volumes=volumes or {}, binds=binds or {},
            users=set(image.users), dirs=set(DIRS) | set(volumes or {}) | set(binds or {}),
            address=f"10.88.0.{next(self._addresses) % 250 + 2}")
        self.containers[container.id] = container
        return container

    def _start(self, container: FakeContainer) -> None:
        image = container.image
        if image.user and image.user not in image.users:
            raise RuntimeFailure(
                f"could not start container {container.name}: unable to find user "
                f"{image.user}: no matching entries in passwd file")
        container.state = "exited" if image.starts == "exits" else "running"

    def _subnet(self, pool: AddressPool | None, name: str) -> str:
        """A free subnet of ``pool`` for network ``name`` ("" without a pool).

        Raises:
            AddressSpaceExhausted: every subnet of the pool is in use.
        """
        existing = next((n for n in self.networks.values() if n.name == name), None)
        if pool is None or existing is not None:
            return existing.subnet if existing is not None else ""
        subnet = next(free_subnets(pool, self._subnets(), key=name), None)
        if subnet is None:
            raise AddressSpaceExhausted(
                "no address space is left for a new session network: all "
                f"{pool_headroom([pool], self._subnets()).capacity} subnets of the server's "
                "network.pool are in use; ask the admin to widen network.pool or end unused "
                "sessions")
        return subnet

    def _subnets(self) -> list[str]:
        return [n.subnet for n in self.networks.values() if n.subnet]

    def network_headroom(self, pool: AddressPool) -> Headroom:
        self._up()
        return pool_headroom([pool], self._subnets())

    def _network(self, name: str, object_labels: dict[str, str], interface: str,
                 subnet: str = "") -> FakeNetwork:
        existing = next((n for n in self.networks.values() if n.name == name), None)
        if existing is not None:
            if _exactly(existing.labels, object_labels):
                return existing
            raise Conflict(f"a network called {name} exists but was not made by podspawn; "
                           "remove it or rename it")
        net = FakeNetwork(id=_new_id("network"), name=name, labels=object_labels,
                          interface=interface, subnet=subnet)
        self.networks[net.id] = net
        return net

    def _volume(self, name: str, object_labels: dict[str, str]) -> str:
        """A named volume, made with ``object_labels`` on first use (as Docker does)."""
        if name not in self.volumes:
            self.volumes[name] = FakeVolume(name=name, labels=object_labels)
        return name

    @staticmethod
    def _carrying(objects: Iterable[_Labelled], owner: Mapping[str, str]) -> list[_Labelled]:
        return [o for o in objects if _exactly(o.labels, owner)]

    def _remove_container(self, name_or_id: str, owner: Mapping[str, str]) -> None:
        container = self._container(name_or_id)
        if container is None:
            return
        _check_owner("container", container.name, container.labels, owner)
        if container.name in self.stuck:
            raise RuntimeFailure(f"the engine refused to remove container {container.name}")
        del self.containers[container.id]

    def _remove_network(self, name_or_id: str, owner: Mapping[str, str]) -> None:
        net = self.networks.get(name_or_id) or next(
            (n for n in self.networks.values() if n.name == name_or_id), None)
        if net is None:
            return
        _check_owner("network", net.name, net.labels, owner)
        users = [c.name for c in self.containers.values() if c.network == net.name]
        if users or net.name in self.stuck:
            raise RuntimeFailure(f"network {net.name} is in use by {', '.join(users) or '?'}")
        del self.networks[net.id]

    def _remove_volume(self, name: str, owner: Mapping[str, str]) -> None:
        volume = self.volumes.get(name)
        if volume is None:
            return
        _check_owner("volume", name, volume.labels, owner)
        users = [c.name for c in self.containers.values() if name in c.volumes.values()]
        if users or name in self.stuck:
            raise RuntimeFailure(f"volume {name} is in use by {', '.join(users) or '?'}")
        del self.volumes[name]

    # -- the programs a fake container runs -----------------------------------------------

    def _run(self, container: FakeContainer, argv: list[str], user: str,
             env: Mapping[str, str], workdir: str, stdin: bytes | None) -> ExecResult:
        call = ExecCall(container=container, argv=tuple(argv), user=user,
                        env={**container.env, **env}, workdir=workdir or "/", stdin=stdin)
        self.execs.append(call)
        for handler in self._handlers:
            answer = handler(call)
            if answer is not None:
                return answer
        if user not in container.users:
            return ExecResult(126, f"unable to find user {user}: no matching entries in "
                                   "passwd file\r\n".encode())
        if call.workdir not in container.dirs:
            return ExecResult(126, f'chdir to cwd ("{call.workdir}") failed: no such file or '
                                   "directory\r\n".encode())
        return run_program(call, self._path, self._peer)

    def _peer(self, container: FakeContainer, name: str) -> FakeContainer | None:
        """A running container on ``container``'s network known by ``name`` (its DNS)."""
        return next((c for c in self.containers.values()
                     if c.network == container.network and container.network != "none"
                     and c.state == "running" and name in (*c.aliases, c.name)), None)

    def _path(self, container: FakeContainer, path: str, workdir: str
              ) -> tuple[dict[str, bytes], str]:
        """The file table that holds ``path`` (a volume's or the container's) and its key."""
        full = posixpath.normpath(posixpath.join(workdir, path))
        for target in sorted(container.volumes, key=len, reverse=True):
            if full == target or full.startswith(target.rstrip("/") + "/"):
                volume = self.volumes[container.volumes[target]]
                return volume.files, posixpath.relpath(full, target)
        return container.files, full


def _exactly(object_labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Label filters match exactly, as an engine's do: no legacy leniency."""
    return all(object_labels.get(k) == v for k, v in wanted.items())


def _require_ours(owner: Mapping[str, str]) -> None:
    if owner.get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
        raise Conflict(
            "refusing to remove engine objects for an owner that does not name podspawn; "
            "report this to the podspawn developers",
            detail=f"owner {dict(owner)} lacks {labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}")


def _check_owner(kind: str, name: str, object_labels: Mapping[str, str],
                 owner: Mapping[str, str]) -> None:
    if not labels.carries(object_labels, owner):
        raise Conflict(
            f"a {kind} named {name} exists that does not belong to this session; podspawn "
            "leaves it alone: an administrator must remove or rename it",
            detail=f"{kind} {name} labels {dict(object_labels)} lack {dict(owner)}")


def _keeps_the_contract(fake: FakeRuntime) -> Runtime:
    """Never called: mypy checks here that the fake has every method of the contract."""
    return fake
