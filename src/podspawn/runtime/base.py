"""The contract between podspawn's services and a container engine (:class:`Runtime`).

Also the container-level records (:class:`ContainerSpec`, :class:`Mount`,
:class:`NetworkInfo`) that the container backends (Docker, Podman) share among themselves;
nothing above the runtime layer uses those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from podspawn.runtime.info import ContainerInfo
from podspawn.runtime.spec import (
    Bind,
    CompanionSpec,
    EngineState,
    ExecResult,
    Found,
    PortPublish,
    ProbeSpec,
    SessionSpec,
    Status,
)
from podspawn.runtime.subnets import AddressPool, Headroom

__all__ = [
    "Bind", "BuildLimits", "BuildOptions", "CompanionSpec", "ContainerInfo", "ContainerSpec",
    "EngineState", "ExecResult", "Found", "ImageRecipe", "Mount", "NetworkInfo", "PortPublish",
    "ProbeSpec", "Runtime", "SessionSpec", "Status",
]

ContainerState = Literal["created", "running", "paused", "restarting", "exited", "dead", "removing"]


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume, tmpfs or host bind of a container.

    A companion's host bind arrives here as a staging path that podspawn has already
    checked, pinned and mounted ``nosuid,nodev`` (``podspawn.services.binds``); a backend
    binds it as given and adds no remount of its own, which would drop those flags.
    """

    target: str
    source: str
    type: Literal["bind", "volume", "tmpfs"] = "bind"
    read_only: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels of a named volume Docker creates on first use (``type="volume"``)."""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything needed to create a container; built as pure data and tested as such."""

    name: str
    image: str
    labels: Mapping[str, str]
    hostname: str = ""
    command: tuple[str, ...] = ("sleep", "infinity")
    """Empty means the image's own command."""
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = ""
    aliases: tuple[str, ...] = ()
    nano_cpus: int = 0
    memory: int = 0
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    pids_limit: int = 0
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    runtime: str = ""
    mounts: tuple[Mount, ...] = ()
    init: bool = True
    working_dir: str = ""
    published: tuple[PortPublish, ...] = ()


@dataclass(frozen=True, slots=True)
class BuildLimits:
    """What one image build may use, since its steps run a repository's commands."""

    memory: int = 0
    """Bytes of memory, swap included, of each step; 0 means no limit."""
    pids: int = 0
    """Processes of the whole build, every step's together; 0 means no limit."""
    name: str = "build"
    """Lowercase letters, digits and '-': what the engine's bookkeeping for the build (a
    cgroup) is called, such as the project's name. The caller holds a lock for this name,
    so what an earlier, killed build of the same name left behind may be removed."""


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What a repository's own Dockerfile needs besides its text (a devcontainer ``build``)."""

    context: str = ""
    """A host directory whose contents are the top of the build context (already filtered
    by the repository's ``.dockerignore``); symlinks in it stay links."""
    dockerfile_name: str = "Dockerfile"
    """The name the Dockerfile text takes in the context; one ``context`` does not use."""
    build_args: Mapping[str, str] = field(default_factory=dict)
    """``ARG`` values, as ``--build-arg`` gives them."""
    target: str = ""
    """The stage of a multi-stage Dockerfile to build; empty means the last."""


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    id: str
    name: str
    labels: Mapping[str, str]
    interface: str = ""
    """The host's interface for it (a Linux bridge), which the packet filter matches; empty
    when the engine has none."""


@dataclass(frozen=True, slots=True)
class ImageRecipe:
    """An image to build: a Dockerfile text and its context. Every engine podspawn targets
    (Docker's classic builder, Podman's buildah, a Kubernetes build job) reads this format.
    """

    tag: str
    dockerfile: str
    labels: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes] = field(default_factory=dict)
    """Files placed at the top of the build context, by name."""
    context_dirs: Mapping[str, str] = field(default_factory=dict)
    """A name in the build context -> a host directory copied there with its file modes."""
    limits: BuildLimits | None = None
    options: BuildOptions | None = None


class Runtime(Protocol):
    """What podspawn's services need from a container engine, one session at a time.

    Modelled on JupyterHub's ``Spawner``: the services hand over a backend-neutral
    :class:`~podspawn.runtime.spec.SessionSpec` and get back an opaque, versioned
    :data:`~podspawn.runtime.spec.EngineState` that they store in the session row and hand
    back unread. Networks, companion containers, volume seeding, readiness and engine ids are
    the backend's business; nothing above this layer knows them.

    Every method returns podspawn's own frozen dataclasses, never an SDK object, and raises
    only podspawn errors: ``RuntimeUnavailable`` when the engine cannot be reached,
    ``RuntimeFailure`` when it refuses, ``ImageUnavailable`` for a missing image,
    ``Conflict`` for an object that is in the way but not ours. "Gone" is a normal answer and
    removing what is gone succeeds, so cleanup and retries are idempotent. Nothing is ever
    removed unless its labels carry the owner asked for (``podspawn.labels.carries``), and
    an owner that lacks ``managed-by: podspawn`` is refused (``Conflict``) before anything is
    touched: every object carries an empty mapping.

    ``tests/contract`` holds every backend (the in-memory ``runtime.fake`` included) to the
    edge cases written here.
    """

    name: str
    """The backend's name in ``runtime.backend`` (``docker``, ``podman``)."""
    login_module: str
    """A standard-library-only module with ``poll(state) -> Status`` and
    ``handoff_argv(state, argv, *, user, workdir, env, tty, inherited) -> list[str]``, which
    the warm login imports instead of this backend (its SDK costs a login tens of ms)."""

    # -- sessions -------------------------------------------------------------------------

    def start_session(
        self,
        spec: SessionSpec,
        *,
        stage: Callable[[CompanionSpec], tuple[Bind, ...]] | None = None,
        progress: Callable[[str], None] | None = None,
        meanwhile: Callable[[EngineState], None] | None = None,
    ) -> EngineState:
        """Make and start everything ``spec`` describes; return its state once the session
        container runs and every companion is ready.

        Companions start in order, each waited for (its ``ready`` command, else its ports)
        before the next; the session container may start while they do, and once it runs,
        ``meanwhile`` is called with its state (``services`` not yet listed) to do work in it
        that needs no companion (an error it raises fails the start like any other).
        ``stage`` is called for a companion with host binds just before that companion is
        created (so an earlier one cannot redirect them) and returns the binds to mount.
        Leftovers of the same (user, project) from another session (a crash) are removed
        first; anything else in the way is a ``Conflict``.

        Every object carries ``labels.owner`` of (install, user, project), the session id
        and ``spec.labels``, except named volumes (the workspace, companions' ``volumes``):
        they outlive the session, so they carry the owner and ``spec.labels`` but no session
        id, are made on first use and reused as they are by later sessions. A companion is
        reachable from the session (and the other companions) by its ``name``.

        It returns only once the session container runs: an image whose container cannot
        start (a ``USER`` it lacks), or whose program has already exited when the engine is
        asked after the start, fails it.

        On any error, everything this call made is removed before the error propagates:
        containers, the network, and the volumes this call created; volumes that existed
        before (the data of earlier sessions) stay.

        Raises:
            ImageUnavailable: an image is not on the server (nothing is pulled here).
            Conflict: an object of the session's names belongs to someone else (it is left
                as it is).
            RuntimeFailure: a container did not start or stopped at once, or a companion was
                not ready in time (the message names it).
            AddressSpaceExhausted: ``spec.address_pool`` has no free subnet left.
        """

    def network_headroom(self, pool: AddressPool) -> Headroom:
        """How many session networks ``pool`` holds, and how many are taken (by any network
        of the engine, or a route of the host), so cleanup can warn before logins fail."""

    def poll(self, state: EngineState) -> Status:
        """``running``; ``stopped`` (it exists but does not run: after an engine restart);
        ``gone`` (its container vanished).

        Before ``start_session`` was ever called, and during a slow one (its state is not
        returned yet), the caller holds ``{}``: that polls ``gone`` without asking the
        engine, is not an error and does not disturb a start under way. After the container
        vanished (removed behind podspawn's back), ``gone``; the caller then ends the session
        with ``stop_session``.

        Raises:
            RuntimeUnavailable: the engine cannot be asked.
        """

    def resume(self, state: EngineState) -> None:
        """Start a ``stopped`` session again (companions first); a running one is left alone.

        Raises:
            RuntimeFailure: it cannot be started, or one of its containers is gone (then the
                caller ends it and makes another).
        """

    def stop_session(self, state: EngineState, *, owner: Mapping[str, str]) -> list[str]:
        """Remove the session's containers and network, and every container of it that
        ``state`` does not name but that carries ``owner`` (with its session id: a session
        ended while it was being made, so ``state`` may be ``{}``), and every network that
        carries such an ``owner``; its volumes stay. Returns what could not be removed
        (empty: all gone). What is gone already is success (a vanished container, a second
        stop), so a retry converges. An object of the session's names that does not carry
        ``owner`` is not removed and is reported.

        Raises:
            Conflict: ``owner`` lacks ``managed-by: podspawn`` (nothing is touched).
        """

    def exec(
        self,
        state: EngineState,
        argv: list[str],
        *,
        user: str = "root",
        env: Mapping[str, str] | None = None,
        workdir: str = "",
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run ``argv`` in the session container to completion; exit code and output.

        As ``user`` (a name the image knows), in ``workdir`` ("" is the image's own), with
        ``env`` on top of the session's environment, ``stdin`` fed and closed. What the
        container cannot start is an answer, not an error: a missing program exits 127, an
        unknown user or a missing ``workdir`` exits 126, the engine's message in the output.

        Raises:
            RuntimeFailure: the session container is gone or not running.
        """

    # -- what carries our labels ----------------------------------------------------------

    def find(self, labels: Mapping[str, str]) -> list[Found]:
        """Every container, network and volume carrying all of ``labels`` (for cleanup's
        orphans, the packet filter's bridges and ``remove-user``'s volumes).

        Matching is exact, as engines' label filters are: user ``al`` finds none of
        ``alice``'s objects, and an object lacking a label is not found by it. Each
        :class:`Found` has the object's own labels (not the query)."""

    def remove(self, found: Found, *, owner: Mapping[str, str]) -> None:
        """Remove one object that :meth:`find` returned; gone is success. Nothing else is
        touched: other owners' objects stay whatever their names.

        Raises:
            Conflict: it does not carry ``owner``, or ``owner`` lacks ``managed-by``.
            RuntimeFailure: it is still in use (a network or volume).
        """

    # -- images ---------------------------------------------------------------------------

    def image_id(self, ref: str) -> str | None:
        """The local image id for ``ref``, or None when it is not present locally (also for
        ``""``); asking is never an error unless the engine is down."""

    def pull(self, ref: str) -> str:
        """Pull ``ref`` and return its id.

        Raises:
            ImageUnavailable: it cannot be pulled; the message names ``ref``.
        """

    def build(self, recipe: ImageRecipe, *, on_output: Callable[[str], None] | None = None
              ) -> str:
        """Build ``recipe`` and return the image id.

        A failed build leaves no image under ``recipe.tag`` (an earlier one keeps it).

        Raises:
            RuntimeFailure: a step failed; the message names the step (its Dockerfile line)
                and its last lines. Also when the engine cannot enforce ``recipe.limits``.
            BuildLimitReached: a step was stopped by one of ``recipe.limits``.
        """

    def import_rootfs(self, tar_path: str, tag: str) -> str:
        """Import a root filesystem tarball as image ``tag`` and return its id."""

    # -- checks ---------------------------------------------------------------------------

    def probe(self, spec: ProbeSpec, commands: list[list[str]], *,
              env: Mapping[str, str] | None = None) -> list[ExecResult]:
        """Start a throw-away container of ``spec``, run each command in it as root, remove
        it (however this ends) and return each command's result, in order. A command the
        engine cannot start (no such program) gives exit code 127.

        Raises:
            ImageUnavailable: the image is not on the server (nothing is pulled).
            RuntimeFailure: the container could not be created or stopped at once.
        """

    def sweep_probes(self, labels: Mapping[str, str]) -> int:
        """Remove stopped probe containers carrying ``labels`` (left by a killed check);
        never a running one. Returns how many went."""
