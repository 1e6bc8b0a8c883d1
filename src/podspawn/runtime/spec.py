"""What a session is, in terms any engine can carry out: pure data, built by the services.

The services decide (image, user, limits, companions, what persists); a backend turns a
:class:`SessionSpec` into engine objects however its engine likes (containers and a bridge
network for Docker and Podman, a Pod and Services for Kubernetes) and answers with an opaque
state. Specs are compared as data in unit tests, as KubeSpawner's ``make_pod`` is: no engine
is needed to see what a session would get.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from podspawn.runtime.subnets import AddressPool

#: A backend's own record of one session: JSON-serialisable, with a ``version`` key, kept in
#: the session row (``runtime_state["engine"]``) and handed back to the same backend.
EngineState = dict[str, Any]

#: What :meth:`podspawn.runtime.base.Runtime.poll` reports.
Status = Literal["running", "stopped", "gone"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of one container; 0 means none."""

    cpus: float = 0.0
    memory: int = 0
    """Bytes."""
    pids: int = 0


@dataclass(frozen=True, slots=True)
class Hardening:
    """What a container may do beyond running programs."""

    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    no_new_privileges: bool = False
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    oci_runtime: str = ""
    """``runsc`` for gVisor; "" is the engine's default."""


@dataclass(frozen=True, slots=True)
class Volume:
    """A named volume private to the session's (user, project); it outlives the session.

    ``name`` is the Podfile's name for it; the backend derives the engine's name.
    """

    name: str
    target: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Bind:
    """A host directory mounted into a container, already checked (and, for companions,
    staged by ``services.binds``): the backend mounts exactly this path, as a plain bind."""

    source: str
    target: str


@dataclass(frozen=True, slots=True)
class PortPublish:
    """A session container port published on a host address (local mode's ``ports``)."""

    host_ip: str
    """Which host address listens, such as ``127.0.0.1`` (never all of them by default)."""
    host_port: int
    container_port: int


@dataclass(frozen=True, slots=True)
class BindRequest:
    """A host-path volume a companion asks for; it becomes a :class:`Bind` only through the
    ``stage`` callback of ``start_session``, just before that companion is created."""

    index: int
    """Its position in the companion's Podfile ``volumes``, for messages."""
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class CompanionSpec:
    """A companion service (PostgreSQL, Redis...) on the session's private network, reachable
    by ``name`` from the session and its other companions."""

    name: str
    image: str
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    """None runs the image's own command."""
    volumes: tuple[Volume, ...] = ()
    binds: tuple[BindRequest, ...] = ()
    ports: tuple[int, ...] = ()
    """Where it listens; readiness waits for them when there is no ``ready`` command."""
    ready: str | None = None
    """A shell command run in the companion until it exits 0."""
    ready_timeout: float = 60.0
    limits: Limits = field(default_factory=Limits)
    hardening: Hardening = field(default_factory=Hardening)


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """Everything a backend needs to start one session of (user, project)."""

    session_id: str
    """The session row's id; every object of the session carries it as a label."""
    install_id: str
    user: str
    project: str
    image: str
    hostname: str
    env: Mapping[str, str] = field(default_factory=dict)
    workspace: str = ""
    """Container path of the (user, project) workspace, kept in a volume that the backend
    seeds from the image the first time; "" for none."""
    home: Bind | None = None
    """A persistent home (a host directory at ``/home/<user>``), or None."""
    companions: tuple[CompanionSpec, ...] = ()
    limits: Limits = field(default_factory=Limits)
    hardening: Hardening = field(default_factory=Hardening)
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels for every object (``labels.MODE`` for local mode, for instance)."""
    address_pool: AddressPool | None = None
    """The pool the session network's subnet is cut from (``network.pool``); None leaves
    the choice to the engine's own pools."""
    binds: tuple[Bind, ...] = ()
    """Host directories mounted into the session container as given (local mode's
    checkout); the caller has checked them, the backend adds nothing."""
    published: tuple[PortPublish, ...] = ()
    """Session container ports reachable on the host (local mode only)."""
    pool: str = ""
    """A warm-pool slot (``services.pools``): the session is made before any user is
    known, so ``user`` is "", and every object is named by the slot and carries
    ``labels.POOL``; a login claims it later, as it is."""
    volumes_from: str = ""
    """The pool slot whose workspace and service volumes are this user's (their first
    login claimed it): they are mounted by the slot's names. "" for the user's own."""
    volumes: tuple[Volume, ...] = ()
    """Named volumes of the session container (the Podfile's ``volumes``), shared by name
    with the companions' volumes of the same (user, project)."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    output: bytes


@dataclass(frozen=True, slots=True)
class Found:
    """An engine object found by its labels (``Runtime.find``)."""

    kind: Literal["container", "network", "volume"]
    id: str
    name: str
    labels: Mapping[str, str]
    running: bool = False
    """For containers: whether it runs now."""
    interface: str = ""
    """For bridge networks: the host interface (the packet filter matches on it)."""


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """A throw-away container for a check (``doctor``, ``verify-image``): no network, no
    capabilities, small limits, a bounded life, removed however the check ends."""

    image: str
    name: str
    labels: Mapping[str, str]
    lifetime: int = 600
    """Seconds it sleeps if nobody removes it (a killed check)."""
    limits: Limits = field(default_factory=lambda: Limits(memory=256 * 1024 * 1024, pids=64))
