"""The server configuration, ``/etc/podspawn/config.yaml``, as plain frozen dataclasses.

The keys and defaults are the Go implementation's, so its config files load unchanged. The
classes are standard-library dataclasses on purpose: the login path (``auth-keys``, ``spawn``)
builds them from a JSON cache without importing pydantic, while every file an admin writes is
validated by pydantic on the cold path (``podspawn.config.loader``). Checks that pydantic's type
validation cannot express live in ``__post_init__``, which pydantic runs too.

Deliberate differences from the Go defaults, each for a documented fault:

* ``security.no_new_privileges`` defaults to false: with it set, the container user's
  passwordless ``sudo`` cannot work (sudo is setuid), yet the docs promise it.
* ``security.cap_add`` adds ``AUDIT_WRITE``, ``KILL`` and ``SYS_CHROOT`` so that ``sudo`` can
  log, root in the container can signal the user's processes, and the in-container sshd of
  ``.pod`` connections can run its privilege-separated child.
* ``log.file`` defaults to ``/var/log/podspawn/podspawn.log``: log lines never go to the SSH
  client's stream.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from podspawn.units import parse_duration, parse_memory, parse_size

SessionMode = Literal["grace-period", "destroy-on-disconnect", "persistent"]
SESSION_MODES: tuple[str, ...] = ("grace-period", "destroy-on-disconnect", "persistent")

_EXTRA_FORBID: dict[str, Any] = {"extra": "forbid"}
#: The Go implementation's ``security.cap_add``; podspawn's lists start from it.
_GO_CAP_ADD = ("CHOWN", "SETUID", "SETGID", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    key_dir: str = "/etc/podspawn/keys"
    """Where ``add-user`` stores each user's authorized_keys lines, one file per user."""
    github_url: str = "https://github.com"
    """Base URL for ``add-user --github``; keys come from ``<github_url>/<handle>.keys``."""

    def __post_init__(self) -> None:
        _require_absolute("auth.key_dir", self.key_dir)
        if not self.github_url.startswith(("http://", "https://")):
            raise ValueError("auth.github_url must start with http:// or https://")


#: The most warm sessions one pool may keep (``defaults.warm``, ``projects.NAME.warm``).
MAX_WARM = 500


@dataclass(frozen=True, slots=True)
class DefaultsConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    image: str = "ubuntu:24.04"
    """Image for sessions without a project. Must exist locally or be pullable."""
    shell: str = "/bin/bash"
    """Login shell of the container user."""
    cpus: float = 2.0
    """CPU limit per container, in CPUs; 0 means no limit."""
    memory: str = "2g"
    """Memory limit per container (k, m or g suffix); 0 means no limit."""
    warm: int = 0
    """Ready, unassigned default-environment sessions kept by the cleanup pass, so that a
    user's first login claims one instead of starting a container (``services.pools``)."""

    def __post_init__(self) -> None:
        if isinstance(self.warm, bool) or not 0 <= self.warm <= MAX_WARM:
            raise ValueError(f"defaults.warm must be a number of sessions from 0 to {MAX_WARM}")
        if not self.image.strip():
            raise ValueError("defaults.image must name an image, such as debian:bookworm")
        _require_absolute("defaults.shell", self.shell)
        if self.cpus < 0:
            raise ValueError("defaults.cpus must be 0 (no limit) or more")
        _check("defaults.memory", parse_memory, self.memory)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    grace_period: str = "60s"
    """How long a container outlives its last connection (grace-period mode)."""
    max_lifetime: str = "8h"
    """Hard cap on a session's age, enforced at login and by cleanup; not for persistent."""
    mode: SessionMode = "grace-period"
    """grace-period, destroy-on-disconnect or persistent."""
    podfile_modes: tuple[SessionMode, ...] = ("grace-period", "destroy-on-disconnect")
    """The modes a project's Podfile may ask for. A Podfile comes from whoever can push to
    the repository, so ``persistent`` (a container that outlives ``max_lifetime``) is only
    the admin's to give: in the server, project or user settings, or by listing it here."""
    idle_timeout: str = "0"
    """End a connected session whose terminals and channels saw no activity for this long
    (``services.idle``); users are warned first. ``0`` turns it off. A project
    (``projects.NAME.idle_timeout``) or a user's file overrides it; a Podfile may only
    shorten it. Applies to sessions created after the change."""

    def __post_init__(self) -> None:
        _check("session.grace_period", parse_duration, self.grace_period)
        _check("session.max_lifetime", parse_duration, self.max_lifetime)
        _check("session.idle_timeout", parse_duration, self.idle_timeout)
        for mode in self.podfile_modes:
            if mode not in SESSION_MODES:
                raise ValueError(f"session.podfile_modes: {mode!r} is not a session mode; use "
                                 + ", ".join(SESSION_MODES))

    @property
    def grace_seconds(self) -> float:
        return parse_duration(self.grace_period)

    @property
    def lifetime_seconds(self) -> float:
        return parse_duration(self.max_lifetime)

    @property
    def idle_seconds(self) -> float:
        return parse_duration(self.idle_timeout)


@dataclass(frozen=True, slots=True)
class StateConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    db_path: str = "/var/lib/podspawn/state.db"
    lock_dir: str = "/var/lib/podspawn/locks"
    homes_dir: str = "/var/lib/podspawn/homes"
    """Persistent-mode homes, one directory per user, owned by the container user."""
    min_free: str = "2G"
    """Free space below which no new session starts: on the filesystem of ``db_path`` and
    on the one of the engine's data (Docker's ``DockerRootDir``). A full disk corrupts
    images and half-writes state; running sessions still attach. ``0`` turns the check off.
    """

    def __post_init__(self) -> None:
        _check("state.min_free", parse_size, self.min_free)
        _require_absolute("state.db_path", self.db_path)
        _require_absolute("state.lock_dir", self.lock_dir)
        _require_absolute("state.homes_dir", self.homes_dir)


@dataclass(frozen=True, slots=True)
class LogConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    file: str = "/var/log/podspawn/podspawn.log"
    """Operator log. Never the SSH stream; an empty value means the same default."""
    audit_log: str = ""
    """JSON-lines audit trail; empty turns it off."""

    def __post_init__(self) -> None:
        if self.file:
            _require_absolute("log.file", self.file)
        if self.audit_log:
            _require_absolute("log.audit_log", self.audit_log)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    cap_drop: tuple[str, ...] = ("ALL",)
    cap_add: tuple[str, ...] = (*_GO_CAP_ADD, "AUDIT_WRITE", "KILL", "SYS_CHROOT")
    no_new_privileges: bool = False
    """True blocks setuid programs, including the container user's sudo."""
    pids_limit: int = 256
    """Process limit of every session and companion-service container; 0 means none."""
    readonly_rootfs: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)
    runtime: str = ""
    """OCI runtime of session and companion-service containers, for instance ``runsc`` for
    gVisor; empty is Docker's default."""
    service_cap_add: tuple[str, ...] = (*_GO_CAP_ADD, "KILL")
    """Capabilities added back to companion-service containers after ``cap_drop``: what
    common images (PostgreSQL, Redis, ...) need to set up their data directory as root and
    drop to their own user with su or gosu. A service's image comes from a Podfile, so it
    gets no more than this."""
    service_no_new_privileges: bool = True
    """Docker's ``no-new-privileges`` for companion services. Dropping privileges (su,
    gosu, setpriv) still works under it; only gaining them through a setuid file does not,
    and services have no sudo to keep working."""
    allowed_bind_roots: tuple[str, ...] = ()
    """Host directories a Podfile's services may bind-mount. Empty: only named volumes, since
    a Podfile comes from a repository and must not reach arbitrary host paths."""
    egress: tuple[str, ...] = ("0.0.0.0/0",)
    """Networks (CIDRs) that session and service containers may open connections to, beyond
    their own session network. The default is anything outside this host; ``[]`` allows
    nothing. The host itself and 169.254.0.0/16 (cloud metadata) are never reachable,
    whatever this says (``services.firewall``)."""

    def __post_init__(self) -> None:
        for key, caps in (("security.cap_drop", self.cap_drop), ("security.cap_add", self.cap_add),
                          ("security.service_cap_add", self.service_cap_add)):
            for cap in caps:
                if not re.fullmatch(r"[A-Z_]+", cap):
                    raise ValueError(f"{key}: {cap!r} must be an upper-case name such as CHOWN")
        if self.pids_limit < 0:
            raise ValueError("security.pids_limit must be 0 (no limit) or more")
        for path in self.tmpfs:
            _require_absolute("security.tmpfs", path)
        for path in self.allowed_bind_roots:
            _require_absolute("security.allowed_bind_roots", path)
        for cidr in self.egress:
            egress_network(cidr)


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Where session networks get their addresses.

    Every session has a bridge network of its own. Docker's default address pools hold
    about 31 of them, so podspawn carves small subnets out of a pool of its own instead.
    The default, 198.18.0.0/15, is reserved for benchmarking (RFC 2544): no office or home
    LAN uses it, and it holds 8192 networks of /28 (13 containers each: a session and up to
    12 companion services).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    pool: str = "198.18.0.0/15"
    """An IPv4 CIDR that session subnets are cut from; "" leaves it to the engine's own
    address pools (at most about 31 sessions on Docker's defaults)."""
    subnet_size: int = 28
    """The prefix length of each session's subnet, from the pool's own up to 29."""

    def __post_init__(self) -> None:
        if not 8 <= self.subnet_size <= 29:
            raise ValueError(
                f"network.subnet_size must be a prefix length from 8 to 29, not "
                f"{self.subnet_size}; 28 gives room for a session and 12 services")
        if not self.pool:
            return
        import ipaddress  # the cold path only, like egress_network

        try:
            net = ipaddress.IPv4Network(self.pool)
        except ValueError:
            raise ValueError(
                f"network.pool: {self.pool!r} is not an IPv4 network; write a CIDR such as "
                "198.18.0.0/15") from None
        if self.subnet_size < net.prefixlen:
            raise ValueError(
                f"network.subnet_size ({self.subnet_size}) must not be shorter than "
                f"network.pool's prefix ({self.pool}): a subnet has to fit in the pool")
        if net.is_loopback or net.is_link_local or net.is_multicast:
            raise ValueError(
                f"network.pool: {self.pool} is loopback, link-local or multicast space; "
                "use a private or reserved range such as 198.18.0.0/15")


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    backend: Literal["docker", "podman"] = "docker"
    """The container engine sessions run on: ``docker`` (Docker Engine) or ``podman``
    (rootful Podman through its Docker-compatible API). A session keeps the engine it was
    made on; change this only with no sessions running (``podspawn list``)."""


@dataclass(frozen=True, slots=True)
class ResourcesConfig:
    """Quotas, and the ceilings on what a Podfile may ask for.

    A Podfile comes from a repository, so its ``resources`` (of the dev container and of
    each service) are requests: ``add-project`` and ``update-project`` refuse one above
    ``max_cpus`` or ``max_memory``, and a login clamps to them in case the admin lowered a
    ceiling since. The admin's own values (``defaults``, the per-user files) are not capped.
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    max_per_user: int = 3
    """Sessions one user may hold at once; 0 means unlimited. A login over it ends the
    user's session that has been idle longest (no connection, not ``persistent``) instead
    of being refused."""
    max_connections_per_user: int = 10
    """SSH sessions (shells, commands, file transfers, ``.pod`` tunnels) one user may have
    open at once, across all their sessions; 0 means unlimited. Each is a ``spawn``
    process holding a container exec, so this bounds what one user costs the host."""
    max_cpus: float = 4.0
    """The most CPUs a Podfile may ask for, for the dev container or any one service. 0
    means no ceiling: CPU time is shared out by the kernel, so an unlimited request slows
    its neighbours down but cannot take the machine down."""
    max_memory: str = "8g"
    """The most memory a Podfile may ask for, for the dev container or any one service.
    Never 0: memory cannot be shared out like CPU time, and a repository asking for all of
    it would leave the host to its OOM killer. Set it as high as the machine allows."""
    service_cpus: float = 1.0
    """CPU limit of a companion service whose Podfile entry asks for none, at most
    ``max_cpus``; 0 means the ``max_cpus`` ceiling (or none, when that is 0 too)."""
    service_memory: str = "1g"
    """Memory limit of a companion service whose Podfile entry asks for none. Never 0, and
    at most ``max_memory``: a service always has a memory limit."""

    def __post_init__(self) -> None:
        for key in ("max_per_user", "max_connections_per_user"):
            if getattr(self, key) < 0:
                raise ValueError(f"resources.{key} must be 0 (unlimited) or more")
        for key in ("max_cpus", "service_cpus"):
            value = getattr(self, key)
            if not 0 <= value <= 1024:  # also refuses nan
                raise ValueError(f"resources.{key} must be a number of CPUs from 0 to 1024")
        if self.max_cpus and self.service_cpus > self.max_cpus:
            raise ValueError(
                f"resources.service_cpus ({self.service_cpus:g}) must not be more than "
                f"resources.max_cpus ({self.max_cpus:g})"
            )
        ceiling = _positive_memory("resources.max_memory", self.max_memory)
        if _positive_memory("resources.service_memory", self.service_memory) > ceiling:
            raise ValueError(
                f"resources.service_memory ({self.service_memory}) must not be more than "
                f"resources.max_memory ({self.max_memory})"
            )


@dataclass(frozen=True, slots=True)
class ImagesConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    mirror: str = ""
    """Debian mirror for ``images bootstrap``; empty means the host's own apt source."""
    node_dist_url: str = "https://nodejs.org/dist"
    """Where ``nodejs@N`` Podfile packages download Node.js from (a mirror on closed networks)."""
    go_dist_url: str = "https://go.dev/dl"
    """Where ``go@X.Y.Z`` downloads Go from."""
    rustup_url: str = "https://sh.rustup.rs"
    """The rustup installer ``rust@channel`` runs."""
    python_ppa: str = "ppa:deadsnakes/ppa"
    """Ubuntu PPA for ``python@X.Y`` when the distribution lacks that version."""
    podfiles_url: str = "https://raw.githubusercontent.com"
    """Base URL for ``extends: github.com/org/repo/...`` Podfiles."""
    build_memory: str = "4g"
    """Memory limit of each step of a project image build (``add-project``,
    ``update-project``), swap included. Never 0: the steps run a repository's commands."""
    build_pids: int = 1024
    """Process limit of a project image build, all its steps' processes together. 0 means
    none, for engines where podspawn cannot set one (it needs Docker's cgroupfs driver on
    cgroups v1)."""
    features_registry: str = ""
    """Registry mirror (``http://`` or ``https://``) that devcontainer Features given as OCI
    references are fetched from, the reference's registry host dropped and its path kept
    (``ghcr.io/org/repo/go:1`` is ``<mirror>/v2/org/repo/go/manifests/1``). Empty: OCI
    Features are refused."""
    features_allow: tuple[str, ...] = ()
    """devcontainer Feature ids (``ghcr.io/org/repo/go``, a tarball URL) or prefixes ending
    at a ``/`` (``ghcr.io/org/``) that may be fetched. Local folder Features need no entry.
    Empty: local Features only."""

    def __post_init__(self) -> None:
        for key in ("node_dist_url", "go_dist_url", "rustup_url", "podfiles_url"):
            if not getattr(self, key).startswith(("http://", "https://")):
                raise ValueError(f"images.{key} must start with http:// or https://")
        if self.features_registry and not self.features_registry.startswith(
                ("http://", "https://")):
            raise ValueError("images.features_registry must start with http:// or https://")
        _positive_memory("images.build_memory", self.build_memory)
        if self.build_pids < 0:
            raise ValueError("images.build_pids must be 0 (no limit) or more")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    __pydantic_config__: ClassVar[dict[str, Any]] = _EXTRA_FORBID
    auth: AuthConfig = field(default_factory=AuthConfig)
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    state: StateConfig = field(default_factory=StateConfig)
    log: LogConfig = field(default_factory=LogConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    projects_file: str = "/etc/podspawn/projects.yaml"
    users_dir: str = "/etc/podspawn/users"
    """Per-user override files, ``<users_dir>/<user>.yaml``."""
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Registered projects (``add-project``), by name."""

    def __post_init__(self) -> None:
        for name, entry in self.projects.items():
            _check_project(name, entry)

    @property
    def log_file(self) -> str:
        # not LogConfig.file: on a slotted dataclass that is the slot descriptor, not "..."
        return self.log.file or LogConfig().file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_trusted_dict(cls, data: dict[str, Any]) -> ServerConfig:
        """Rebuild a config that was validated before (the login-path cache); no checks."""
        sec = dict(data["security"])
        sec["cap_drop"] = tuple(sec["cap_drop"])
        sec["cap_add"] = tuple(sec["cap_add"])
        sec["allowed_bind_roots"] = tuple(sec.get("allowed_bind_roots", ()))
        if "egress" in sec:
            sec["egress"] = tuple(sec["egress"])
        if "service_cap_add" in sec:
            sec["service_cap_add"] = tuple(sec["service_cap_add"])
        return cls(
            auth=AuthConfig(**data["auth"]),
            defaults=DefaultsConfig(**data["defaults"]),
            session=SessionConfig(**{**data["session"], "podfile_modes": tuple(
                data["session"].get("podfile_modes", SessionConfig().podfile_modes))}),
            state=StateConfig(**data["state"]),
            log=LogConfig(**data["log"]),
            security=SecurityConfig(**sec),
            resources=ResourcesConfig(**data["resources"]),
            images=ImagesConfig(**{**data["images"], "features_allow": tuple(
                data["images"].get("features_allow", ()))}),
            runtime=RuntimeConfig(**data.get("runtime", {})),
            network=NetworkConfig(**data.get("network", {})),
            projects_file=data["projects_file"],
            users_dir=data.get("users_dir", "/etc/podspawn/users"),
            projects=data["projects"],
        )


#: What ``add-project`` writes (repo, branch, image_tag, podfile_hash) and what the admin may
#: add: ``mode``, ``idle_timeout``, ``warm`` and the access list ``users``/``groups``.
PROJECT_KEYS = frozenset({"repo", "branch", "image_tag", "podfile_hash", "mode", "users",
                          "groups", "idle_timeout", "warm"})
_NAME_LIST = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def _check_project(name: str, entry: Any) -> None:
    where = f"projects.{name}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping of keys such as repo:")
    unknown = sorted(set(entry) - PROJECT_KEYS)
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown key; use one of "
                         + ", ".join(sorted(PROJECT_KEYS)))
    mode = entry.get("mode")
    if mode not in (None, "", *SESSION_MODES):
        raise ValueError(f"{where}.mode: {mode!r} is not allowed; use one of "
                         + ", ".join(SESSION_MODES))
    idle = entry.get("idle_timeout")
    if idle is not None:
        if isinstance(idle, bool) or not isinstance(idle, (str, int)):
            raise ValueError(f"{where}.idle_timeout must be a duration such as 30m, or 0 for "
                             "none")
        _check(f"{where}.idle_timeout", parse_duration, str(idle))
    warm = entry.get("warm")
    if warm is not None and (isinstance(warm, bool) or not isinstance(warm, int)
                             or not 0 <= warm <= MAX_WARM):
        raise ValueError(f"{where}.warm must be a number of sessions from 0 to {MAX_WARM}")
    for key in ("users", "groups"):
        names = entry.get(key)
        if names is None:
            continue
        if not isinstance(names, list) or not all(
            isinstance(n, str) and _NAME_LIST.fullmatch(n) for n in names
        ):
            raise ValueError(f"{where}.{key} must be a list of {key[:-1]} names, such as "
                             f"[{'sarah' if key == 'users' else 'developers'}]")


def egress_network(cidr: str) -> Any:
    """``cidr`` of ``security.egress`` as an ``ipaddress`` network.

    Raises:
        ValueError: it is not a network, has host bits set, or lies in link-local space
            (169.254.0.0/16 or fe80::/10), which containers may never reach.
    """
    import ipaddress  # the cold path only: the login path never validates

    try:
        loose = ipaddress.ip_network(cidr, strict=False)
    except (TypeError, ValueError):
        raise ValueError(
            f"security.egress: {cidr!r} is not a network; write a CIDR such as 10.0.0.0/8, "
            "203.0.113.7/32 or 0.0.0.0/0"
        ) from None
    try:
        net = ipaddress.ip_network(cidr)
    except ValueError:
        raise ValueError(
            f"security.egress: {cidr!r} has host bits set; write the network, {loose}"
        ) from None
    if net.is_link_local:
        raise ValueError(
            f"security.egress: {cidr} is link-local (where cloud metadata lives), which "
            "containers can never reach; remove it"
        )
    return net


def _check(key: str, parse: Any, value: str) -> None:
    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _positive_memory(key: str, value: str) -> int:
    _check(key, parse_memory, value)
    size = parse_memory(value)
    if size <= 0:
        raise ValueError(f"{key} must be a memory size such as 1g; 0 (no limit) is not allowed")
    return size


def _require_absolute(key: str, path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"{key} must be an absolute path, got {path!r}")
