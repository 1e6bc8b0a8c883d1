"""The Podfile schema: what a project's ``podfile.yaml`` may say, as frozen pydantic models.

The keys are the Go implementation's, so its Podfiles load unchanged, but validation is
stricter on purpose: every Podfile is validated once, after ``extends`` is resolved and merged
(the Go tool validated only in ``add-project`` and silently ignored bad values elsewhere), and an
unknown key such as ``pakages`` is an error instead of being dropped. Each field's docstring is
its documentation: it flows into :func:`podspawn.podfile.schema.json_schema`.

Defaults are applied after merging, never while parsing one file, so every field is
inheritable, ``shell`` included (the Go parser filled in ``/bin/bash`` too early and a base's
shell could never be inherited).

Decisions on points where the Go docs contradict each other or leave a gap:

* ``repos[].branch``: when omitted, the repository's own default branch is cloned (not a fixed
  ``main``), so repositories whose default is ``master`` or ``trunk`` work.
* Hooks: a failing ``on_create`` is fatal (the half-made session is removed); a failing
  ``on_start`` is a warning and the shell still opens. The same in server and local mode.
* ``mode``: the Podfile states the project's preference. It overrides the server's default
  mode but not what the admin set for the project (``projects.yaml``) or for the user
  (``/etc/podspawn/users/<user>.yaml``), because the Podfile comes from the repository, which
  the admin does not control. Unset means "no preference".
* Service volumes: only named volumes (``name:/path``) by default. A host path needs the admin
  to allow its directory (``check_policy(allowed_bind_roots=...)``); the Go tool let any
  Podfile bind-mount any host path. A spec without ``:`` is an error, not a skipped warning.
  Named volumes outlive a session and are removed only when the project is cleaned
  explicitly, so a database survives a grace-period expiry.
* ``sudo`` is not a Podfile package that podspawn adds: the podspawn layer that every session
  image gets (``podspawn.services.images``) provides sudo, sftp-server and sshd.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from podspawn.config.schema import SessionMode
from podspawn.names import PROJECT_PATTERN, SERVICE_PATTERN
from podspawn.podfile.env_values import DEFERRED_RE, DEFERRED_VARIABLES
from podspawn.podfile.packages import PACKAGE_PATTERN, package_name, parse_package
from podspawn.units import parse_memory

#: An image reference: ``name``, ``registry:5000/ns/name:tag`` or ``name@sha256:...``. No
#: whitespace, so it cannot smuggle a second Dockerfile instruction.
IMAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"
#: An absolute container path without whitespace or shell quoting characters.
ABS_PATH_PATTERN = r"^/[A-Za-z0-9._/+@=-]*$"
#: An environment variable name as POSIX shells accept it.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: A git branch or tag name (conservative subset, never starting with ``-``).
GIT_REF_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._/+-]*$"
#: A git remote: https, ssh, ``git@host:path`` or file URLs; no whitespace, no leading ``-``
#: (which git would read as an option).
GIT_URL_PATTERN = r"^[A-Za-z0-9/.~_][^\s]*$"
#: A Docker named-volume name.
VOLUME_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"

#: What each pattern means, in words, for error messages.
PATTERN_HINTS: dict[str, str] = {
    SERVICE_PATTERN: "use 1-40 lowercase letters, digits, '_' or '-'",
    PROJECT_PATTERN: "use 1-40 lowercase letters, digits or '-', starting and ending with a "
    "letter or digit",
    IMAGE_PATTERN: "write an image reference such as debian:bookworm",
    ABS_PATH_PATTERN: "write an absolute path, starting with /",
    ENV_NAME_PATTERN: "use letters, digits and '_', not starting with a digit",
    GIT_REF_PATTERN: "write a branch or tag name such as main",
    GIT_URL_PATTERN: "write a git URL such as https://example.com/team/repo.git",
    PACKAGE_PATTERN: "write a lowercase Debian package name, optionally followed by @version",
}

_VOLUME_NAME_RE = re.compile(VOLUME_NAME_PATTERN)


def _scalar_to_str(value: Any) -> Any:
    """YAML reads ``PORT: 3000`` and ``DEBUG: true`` as numbers and booleans; env wants text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("must be a single line")
    return value


def _one_command(value: str) -> str:
    _one_line(value)
    if value.rstrip().endswith("\\"):
        raise ValueError("must not end with a backslash (it would join the next step)")
    return value


def _known_variables(value: str) -> str:
    for variable in DEFERRED_RE.findall(value):
        if variable not in DEFERRED_VARIABLES:
            allowed = ", ".join(f"${{{name}}}" for name in DEFERRED_VARIABLES)
            raise ValueError(f"${{{variable}}} is not a podspawn variable; known are {allowed}")
    return value


def _no_dot_dot(value: str) -> str:
    if ".." in value.split("/"):
        raise ValueError(f"{value} must not contain '..'")
    return value


def _check_package(value: str) -> str:
    parse_package(value)
    return value


def _check_memory(value: str) -> str:
    parse_memory(value)
    return value


def check_volume(value: str) -> str:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"{value!r} is not a volume: write name:/path (or name:/path:ro)")
    source, target = parts[0], parts[1]
    if len(parts) == 3 and parts[2] not in ("ro", "rw"):
        raise ValueError(f"{value!r}: the third part must be ro or rw")
    if not target.startswith("/") or ".." in target.split("/"):
        raise ValueError(f"{value!r}: the container path must be absolute, without '..'")
    if source.startswith("/"):
        if ".." in source.split("/"):
            raise ValueError(f"{value!r}: the host path must not contain '..'")
    elif not _VOLUME_NAME_RE.fullmatch(source) or len(source) > 64:
        raise ValueError(
            f"{value!r}: the source must be a volume name (up to 64 letters, digits, '_', "
            "'.', '-') "
            "or an absolute host path"
        )
    return value


ServiceName = Annotated[str, StringConstraints(pattern=SERVICE_PATTERN)]
ProjectName = Annotated[str, StringConstraints(pattern=PROJECT_PATTERN)]
ImageRef = Annotated[str, StringConstraints(pattern=IMAGE_PATTERN, max_length=255)]
AbsPath = Annotated[
    str, StringConstraints(pattern=ABS_PATH_PATTERN, max_length=4096), AfterValidator(_no_dot_dot)
]
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]
EnvValue = Annotated[
    str,
    BeforeValidator(_scalar_to_str),
    AfterValidator(_one_line),
    AfterValidator(_known_variables),
]
Port = Annotated[int, Field(ge=1, le=65535)]
PackageSpec = Annotated[
    str, StringConstraints(pattern=PACKAGE_PATTERN), AfterValidator(_check_package)
]
GitRef = Annotated[
    str, StringConstraints(pattern=GIT_REF_PATTERN, max_length=255), AfterValidator(_no_dot_dot)
]
GitUrl = Annotated[str, StringConstraints(pattern=GIT_URL_PATTERN, max_length=2048)]
VolumeSpec = Annotated[str, AfterValidator(check_volume)]
CommandLine = Annotated[str, StringConstraints(min_length=1), AfterValidator(_one_command)]
MemorySize = Annotated[str, BeforeValidator(_scalar_to_str), AfterValidator(_check_memory)]

ImageUser = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")]
CapName = Annotated[str, StringConstraints(pattern=r"^[A-Z_]{1,64}$")]
#: A VS Code extension id, ``publisher.name`` with an optional ``@version``.
EXTENSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9.+-]+)?$"
ExtensionId = Annotated[str, StringConstraints(pattern=EXTENSION_PATTERN, max_length=256)]

_CONFIG = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


#: A number of CPUs; the bounds also refuse nan and infinity.
Cpus = Annotated[float, Field(gt=0, le=1024)]


class ServiceResources(BaseModel):
    """Limits the Podfile asks for one companion service, within the admin's ceilings."""

    model_config = _CONFIG

    cpus: Cpus | None = None
    """CPU limit of the service container, in CPUs. ``add-project`` refuses more than the
    server's ``resources.max_cpus``. Default: the server's ``resources.service_cpus``."""
    memory: MemorySize | None = None
    """Memory limit of the service container with a k, m or g suffix (``512m``).
    ``add-project`` refuses more than the server's ``resources.max_memory``, and ``0`` (no
    limit) is always more. Default: the server's ``resources.service_memory``."""


class Service(BaseModel):
    """A companion container (database, cache, ...) on the session's private network."""

    model_config = _CONFIG

    name: ServiceName
    """Required and unique in the Podfile. Also the service's DNS name on the session
    network, so the dev container reaches it as ``<name>:<port>``."""
    image: ImageRef
    """Required. The image the service runs, with its default entrypoint unless ``command``
    is set."""
    ports: tuple[Port, ...] = ()
    """Container ports the service listens on (1-65535). Documentation only: services are
    reached over the private network, nothing is published on the host. Default: none."""
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    """Environment of the service container, such as ``POSTGRES_PASSWORD``. Default: none."""
    volumes: tuple[VolumeSpec, ...] = ()
    """Storage as ``name:/path`` (a named volume, kept when the session ends) or
    ``name:/path:ro``. A host path (``/srv/x:/path``) is refused unless the admin allows
    its directory, because the Podfile comes from the repository. Default: none."""
    command: tuple[str, ...] | None = None
    """Arguments that replace the image's command (exec form, no shell). Default: the
    image's own command."""
    ready: str | None = None
    """A shell command run inside the service container (``sh -c``) until it exits 0, such
    as ``pg_isready``; the dev container starts only then. Default: started means ready."""
    ready_timeout: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """Seconds to wait for ``ready`` before giving up. Default 60."""
    resources: ServiceResources = Field(default_factory=ServiceResources)
    """CPU and memory the service asks for, merged per field across ``extends``. The
    service always runs with a memory limit; the admin's ceilings cap what it may ask."""


class Ports(BaseModel):
    """Ports the environment serves, and how ``podspawn dev`` publishes them."""

    model_config = _CONFIG

    expose: tuple[Port, ...] = ()
    """Container ports (1-65535) the project serves, such as 3000 for a dev server. Also
    recorded as ``EXPOSE`` in the image. Merged across ``extends`` without duplicates."""
    strategy: Literal["auto", "manual", "expose"] = "auto"
    """Local mode only. ``auto``: publish each exposed port, moving to a nearby free host port
    when taken. ``manual``: publish only the ports given with ``--ports``. ``expose``: same
    host port or fail. Default ``auto``."""


class Resources(BaseModel):
    """Limits the Podfile asks for the dev container; unset fields fall back to the
    server's defaults. Requests only: the admin's ceilings cap them."""

    model_config = _CONFIG

    cpus: Cpus | None = None
    """CPU limit, in CPUs (``1.5`` is one and a half). Enforced by the container engine.
    ``add-project`` refuses more than the server's ``resources.max_cpus``; the admin's
    per-user settings win over it. Default: the server's ``defaults.cpus``."""
    memory: MemorySize | None = None
    """Memory limit with a k, m or g suffix (``4g``). ``add-project`` refuses more than the
    server's ``resources.max_memory``, and ``0`` (no limit) is always more. The admin's
    per-user settings win over it. Default: the server's ``defaults.memory``."""


class Repo(BaseModel):
    """An extra git repository cloned into the container when it is created."""

    model_config = _CONFIG

    url: GitUrl
    """Required. The remote to clone (https, ssh or file URL); unique in the Podfile."""
    path: AbsPath | None = None
    """Absolute container path to clone into. Default: a directory named after the
    repository, in the user's home."""
    branch: GitRef | None = None
    """Branch or tag to clone (single-branch). Default: the repository's default branch."""


class Dotfiles(BaseModel):
    """A dotfiles repository cloned to ``~/dotfiles`` when the container is created."""

    model_config = _CONFIG

    repo: GitUrl
    """Required. The dotfiles remote."""
    install: str | None = None
    """Shell command run inside ``~/dotfiles`` after cloning, as the user, such as
    ``./install.sh``. A failure is a warning. Default: nothing is run."""


class HostRequirements(BaseModel):
    """What the project says a host needs (a devcontainer's ``hostRequirements``): checked
    against the server at ``add-project``, a warning when unmet, never a refusal."""

    model_config = _CONFIG

    cpus: Annotated[int, Field(ge=0, le=4096)] = 0
    """CPUs the host should have; 0 asks for nothing."""
    memory: MemorySize | None = None
    """Memory the host should have (``8g``). Default: nothing asked."""
    storage: MemorySize | None = None
    """Free disk space the host should have for images and volumes (``32g``)."""
    gpu: bool = False
    """Whether the project needs a GPU (an NVIDIA device on the host)."""


class Podfile(BaseModel):
    """A project's environment: the image recipe plus what is set up around it at runtime.

    ``base``, ``packages``, static ``env``, ``ports.expose`` and ``extra_commands`` make the
    image; everything else is applied when a session's container is created.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        title="Podfile",
        json_schema_extra={
            # `key!:` replaces the inherited value instead of merging with it.
            "patternProperties": {"^[a-z_]+!$": {}},
        },
    )

    base: ImageRef
    """The base image, such as ``ubuntu:24.04`` or ``debian:bookworm``. Required, unless
    inherited through ``extends``. ``packages`` need a Debian or Ubuntu base (apt)."""
    extends: str | None = None
    """A Podfile to start from: a path relative to this file, the name of a base shipped
    with podspawn (``ubuntu-dev``, ``minimal``...), ``github.com/org/repo[/path]`` or an
    https URL. Resolved when loading; always unset in a loaded Podfile."""
    name: ProjectName | None = None
    """Prefix of the local session name (``podspawn dev``). Never inherited. Default: the
    project directory's name."""
    packages: tuple[PackageSpec, ...] = ()
    """Software baked into the image: apt package names, ``name@version`` pins, or the
    runtimes ``nodejs@22``, ``python@3.12``, ``go@1.25``, ``rust@stable``. Inherited entries
    are kept and new ones appended; ``!name`` removes an inherited one."""
    shell: AbsPath = "/bin/bash"
    """The container user's login shell (absolute path; install it with ``packages`` when
    the base lacks it). Inheritable. Default ``/bin/bash``."""
    env: dict[EnvName, EnvValue] = Field(default_factory=dict)
    """Environment variables. Values are baked into the image (as ``ENV``, where ``$VAR``
    expands like in a Dockerfile) unless they use ``${PODSPAWN_USER}``,
    ``${PODSPAWN_PROJECT}`` or ``${PODSPAWN_HOME}``, which are filled in per session. A
    child's ``""`` removes an inherited variable."""
    services: tuple[Service, ...] = ()
    """Companion containers started before the dev container, in order, on the session's
    private network. Merged by name across ``extends``; ``name: "!redis"`` removes one."""
    on_create: str | None = None
    """Shell script run once per image build, as the container user (uid 1000), in the
    workspace, with the project's checkout in place; its result (``npm install``...) is
    cached in the image, so logins never repeat it. A failure fails the build and shows its
    last output. Inherited scripts run first."""
    on_start: str | None = None
    """Shell script run as the user, in the workspace, each time a session's container
    starts; its output is shown to the user. A failure is only a warning. Inherited scripts
    run first."""
    ports: Ports = Field(default_factory=Ports)
    """Ports the project serves, and the local publishing strategy."""
    resources: Resources = Field(default_factory=Resources)
    """CPU and memory limits for the dev container; merged per field."""
    repos: tuple[Repo, ...] = ()
    """Extra repositories cloned at creation; a failed clone is a warning. Merged by
    ``url``; ``url: "!<url>"`` removes an inherited one."""
    dotfiles: Dotfiles | None = None
    """A dotfiles repository for everyone using this project; a user's own dotfiles setting
    replaces it. Replaced as a whole by a child Podfile."""
    extra_commands: tuple[CommandLine, ...] = ()
    """Commands run as root at the end of the image build, one ``RUN`` step each, in a
    strict bash (``-euo pipefail``) on Debian/Ubuntu bases. One line each. Inherited
    commands run first."""
    mount: Literal["bind", "copy", "none"] = "bind"
    """Local mode only: how the project directory reaches the container. ``bind`` mounts
    it, ``copy`` copies it once at creation, ``none`` leaves it out. Default ``bind``."""
    mode: SessionMode | None = None
    """What happens when the last connection closes: ``grace-period``,
    ``destroy-on-disconnect`` or ``persistent``. Above the server default, below the admin's
    project and user settings. Default: no preference."""
    workspace: AbsPath | None = None
    """Absolute container path where the project is mounted or cloned, and where hooks and
    shells start. Default ``/workspace/<project>``."""
    branch: GitRef | None = None
    """Default branch for a project workspace checkout. Default: the repository's default
    branch."""
    image_user: ImageUser | None = None
    """The image's own user that the session user replaces (a devcontainer's
    ``remoteUser``, such as ``vscode`` or ``node``): renamed to the login name with the
    login's uid, keeping its home and tools. Default: the image's uid-1000 user."""
    volumes: tuple[VolumeSpec, ...] = ()
    """Storage of the dev container, as for a service: ``name:/path`` (a named volume of
    the user's project, kept when the session ends), ``:ro`` for read-only, or a host path
    only under the admin's ``security.allowed_bind_roots``. Default: none."""
    cap_add: tuple[CapName, ...] = ()
    """Capabilities the project needs in the dev container; ``add-project`` refuses any the
    admin's ``security.cap_add`` does not already grant. Default: none."""
    extensions: tuple[ExtensionId, ...] = ()
    """VS Code extensions the project recommends (``publisher.name``): listed to the user
    when a session starts, installed when the image has the VS Code server. Default: none."""
    host_requirements: HostRequirements = Field(default_factory=HostRequirements)
    """What the host should have; a warning at ``add-project`` when it has not."""

    @field_validator("packages")
    @classmethod
    def _unique_packages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, str] = {}
        for spec in value:
            name = package_name(spec)
            if name in seen:
                raise ValueError(f"{name} is listed twice ({seen[name]}, {spec})")
            seen[name] = spec
        return value

    @field_validator("services")
    @classmethod
    def _unique_services(cls, value: tuple[Service, ...]) -> tuple[Service, ...]:
        _reject_duplicates("service name", [service.name for service in value])
        return value

    @field_validator("repos")
    @classmethod
    def _unique_repos(cls, value: tuple[Repo, ...]) -> tuple[Repo, ...]:
        _reject_duplicates("repo url", [repo.url for repo in value])
        _reject_duplicates("repo path", [repo.path for repo in value if repo.path])
        return value

    @field_validator("extends")
    @classmethod
    def _resolved(cls, value: str | None) -> str | None:
        # The loader removes `extends` after resolving it; a model built directly from a
        # file that still has one would silently lose everything it inherits.
        if value is not None:
            raise ValueError("must be resolved by podspawn.podfile.load before validation")
        return value


def _reject_duplicates(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)

