"""Validate names that come from users, and derive every resource name from them.

Every user, project and service name passes through here, and no other module builds a
container, network, volume or lock-file name: :func:`resource_name` is the one function, and
it is injective, so no object of one tenant can ever be named like an object of another.
"""

from __future__ import annotations

from podspawn.errors import InvalidName

#: A login name: what useradd accepts on Debian, minus anything a shell, sshd pattern or
#: Docker would reinterpret. Lowercase, starts with a letter or underscore, at most 32.
USER_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
#: A project name: the label before ``.pod``, so a DNS label (lowercase, no dots).
PROJECT_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
#: A companion service name inside a Podfile; also its DNS alias on the session network.
SERVICE_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$"

# The checks below implement these patterns with string methods: ``re`` costs ``auth-keys``
# (run twice per login) several milliseconds to import. tests/unit/test_names.py checks
# that both agree on a table of hostile inputs.
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_ALNUM = _LOWER | _DIGITS


def _label(name: object, *, first: frozenset[str], middle: frozenset[str],
           last: frozenset[str], longest: int) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= longest
        and name[0] in first
        and all(ch in middle for ch in name[1:-1])
        and (len(name) == 1 or name[-1] in last)
    )


def _user_ok(name: object) -> bool:
    body = _ALNUM | {"_", "-"}
    return _label(name, first=_LOWER | {"_"}, middle=body, last=body, longest=32)


def _project_ok(name: object) -> bool:
    return _label(name, first=_ALNUM, middle=_ALNUM | {"-"}, last=_ALNUM, longest=40)


def _service_ok(name: object) -> bool:
    return _label(name, first=_ALNUM, middle=_ALNUM | {"_", "-"}, last=_ALNUM, longest=40)


#: Names podspawn never manages, whatever the admin types.
RESERVED_USERS = frozenset({"root", "nobody", "podspawn", "podspawn-auth", "sshd", "docker"})

PREFIX = "podspawn"
_MAX_HOSTNAME = 63

#: The engine objects podspawn names. A name says which kind it is, so the same
#: (user, project, part) never names two kinds alike either.
RESOURCE_KINDS = ("session", "service", "network", "volume", "workspace")
#: Flock files in ``state.lock_dir``: one per user, one per image build, one per project,
#: and one around changes to this installation's packet-filter chains.
LOCK_KINDS = ("user", "image", "build", "firewall")
#: Linux refuses interface names longer than this (IFNAMSIZ - 1).
MAX_IFNAME = 15
#: What every session bridge of this podspawn release is called: ``psp`` + installation
#: tag + network hash, so the packet filter matches them all with one ``psp<tag>+``.
BRIDGE_PREFIX = "psp"
#: The packet-filter chains of one installation (``services.firewall``), by job.
CHAIN_KINDS = ("IN", "HOST", "FWD", "OUT", "REJ")

def validate_user(name: str) -> str:
    """Return ``name`` if it is an acceptable podspawn login name.

    Raises:
        InvalidName: the name is empty, too long, or has a character outside ``[a-z0-9_-]``.
    """
    if not _user_ok(name):
        raise InvalidName(
            f"invalid user name {_show(name)}: use 1-32 lowercase letters, digits, '_' or '-', "
            "starting with a letter or '_'"
        )
    return name


def is_valid_user(name: str) -> bool:
    return _user_ok(name)


def validate_project(name: str) -> str:
    """Return ``name`` if it can name a project (and so a ``NAME.pod`` host).

    Raises:
        InvalidName: the name is not a lowercase DNS label of at most 40 characters.
    """
    if not _project_ok(name):
        raise InvalidName(
            f"invalid project name {_show(name)}: use 1-40 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_service(name: str) -> str:
    """Return ``name`` if it can name a companion service.

    Raises:
        InvalidName: the name is not a lowercase label of at most 40 characters.
    """
    if not _service_ok(name):
        raise InvalidName(
            f"invalid service name {_show(name)}: use 1-40 lowercase letters, digits, '_' or '-'"
        )
    return name


def project_from_host(value: str) -> str:
    """Turn what a client sent (``api``, ``api.pod``, ``API.pod``) into a project name.

    Raises:
        InvalidName: what is left after stripping ``.pod`` is not a valid project name.
    """
    name = value.strip().lower()
    if name.endswith(".pod"):
        name = name[: -len(".pod")]
    return validate_project(name)


def resource_name(kind: str, user: str, project: str = "", part: str = "") -> str:
    """The engine name of one object of (kind, user, project, part); the only place one is made.

    No two different tuples give the same name, whatever the inputs (tests/unit/test_names.py
    proves it on a table of hostile tuples). Two shapes:

    * ``podspawn-<user>`` and ``podspawn-<user>-<project>``: a session container whose user
      name has no ``-``, exactly the Go implementation's names. The user ends at the first
      ``-``, so the split is unambiguous.
    * ``podspawn-<kind>.<user>[.<project>[.<part>]]`` for everything else. ``.`` is in no
      user, project or service name, so the fields split back apart; only the last may hold
      a ``.`` (a Podfile volume name), and trailing empty fields are dropped. A plain name
      has no ``.``, so the two shapes never meet.

    Raises:
        InvalidName: a part is not a valid name for its position, or ``kind`` is unknown.
    """
    if kind not in RESOURCE_KINDS:
        raise InvalidName(f"unknown resource kind {_show(kind)}")
    validate_user(user)
    if project:
        validate_project(project)
    if part:
        if kind == "service":
            validate_service(part)
        elif not _volume_ok(part):
            raise InvalidName(
                f"invalid volume name {_show(part)}: use letters, digits, '_', '.' or '-'"
            )
    named = kind in ("service", "volume")
    if named != bool(part) or (named and not project):
        raise InvalidName(f"a {kind} name needs a project and a name, and nothing else has one")
    if kind == "session" and "-" not in user:
        return "-".join([PREFIX, user, *([project] if project else [])])
    fields = [kind, user, project, part]
    while not fields[-1]:
        fields.pop()
    return f"{PREFIX}-" + ".".join(fields)


#: The kind of a throw-away check container (``doctor``, ``verify-image``); not a
#: resource kind, so no (kind, user, project, part) tuple can spell one.
CHECK_KIND = "check"


def check_container_name(token: str) -> str:
    """``podspawn-check.<token>``: the throw-away container of one ``doctor`` or
    ``verify-image`` run. The dotted shape with a kind that :func:`resource_name` never
    uses keeps it apart from every session's objects.

    Raises:
        InvalidName: ``token`` is not 8-32 lowercase hex digits.
    """
    if not 8 <= len(token) <= 32 or any(ch not in _HEX for ch in token):
        raise InvalidName(f"{_show(token)} is not a hex token for a check container")
    return f"{PREFIX}-{CHECK_KIND}.{token}"


def hostname(user: str, project: str = "") -> str:
    """What the session container calls itself: ``podspawn-<user>[-<project>]``, as the Go
    implementation's prompt shows, cut to a hostname's 63 characters.

    Only the user sees it, inside their own container, so it need not be unique; the
    container's engine name (:func:`resource_name`) is.
    """
    validate_user(user)
    if project:
        validate_project(project)
    return "-".join([PREFIX, user, *([project] if project else [])])[:_MAX_HOSTNAME].rstrip("-")


#: The kind spelt before a warm-pool slot; not a resource kind, so no (kind, user, project,
#: part) tuple of :func:`resource_name` can spell a slot's object.
POOL_KIND = "pool"


def pool_resource(slot: str, kind: str, part: str = "") -> str:
    """``podspawn-pool.<slot>.<kind>[.<part>]``: an object of a warm-pool slot, made before
    any user is known. The slot (12 hex digits) is unique, so the name need not carry the
    project, and the ``pool`` kind keeps it apart from every (user, project) name.

    Raises:
        InvalidName: ``slot`` is not 12 lowercase hex digits, ``kind`` is not a resource
            kind, or ``part`` is not a valid service or volume name.
    """
    if len(slot) != 12 or any(ch not in _HEX for ch in slot):
        raise InvalidName(f"{_show(slot)} is not a warm-pool slot")
    if kind not in RESOURCE_KINDS:
        raise InvalidName(f"unknown resource kind {_show(kind)}")
    named = kind in ("service", "volume")
    if named != bool(part):
        raise InvalidName(f"a pool {kind} name needs a part exactly when it is named")
    if kind == "service":
        validate_service(part)
    elif part and not _volume_ok(part):
        raise InvalidName(f"invalid volume name {_show(part)}: use letters, digits, '_', '.' "
                          "or '-'")
    return f"{PREFIX}-{POOL_KIND}.{slot}.{kind}" + (f".{part}" if part else "")


def pool_hostname(project: str = "") -> str:
    """What a warm-pool slot's container calls itself: ``podspawn[-<project>]``. A hostname
    cannot change in a running container, so a claimed one keeps this."""
    if project:
        validate_project(project)
    return "-".join([PREFIX, *([project] if project else [])])


def container_name(user: str, project: str = "") -> str:
    return resource_name("session", user, project)


def network_name(user: str, project: str = "") -> str:
    return resource_name("network", user, project)


def service_container_name(user: str, project: str, service: str) -> str:
    return resource_name("service", user, project, service)


def volume_name(user: str, project: str, volume: str) -> str:
    """A Podfile service's named volume, private to one user's session of one project."""
    return resource_name("volume", user, project, volume)


def workspace_volume(user: str, project: str) -> str:
    """The volume holding a user's checkout of a project; it outlives the container."""
    return resource_name("workspace", user, validate_project(project))


def lock_name(kind: str, key: str) -> str:
    """The flock file name of a user (``user.<name>.lock``), of an image build keyed by its
    recipe hash (``image.<hash>.lock``), of a project's build queue (``build.<project>.lock``)
    or of the packet filter of an installation keyed by its tag (``firewall.<tag>.lock``).

    The kind is spelt before a ``.``, which no key may contain, so no user can share an
    image's lock by choosing a name such as ``image-0123456789ab``.

    Raises:
        InvalidName: the key is not a valid name for its kind.
    """
    if kind == "user":
        validate_user(key)
    elif kind == "build":
        validate_project(key)
    elif kind not in ("image", "firewall") or not key or any(ch not in _HEX for ch in key):
        raise InvalidName(f"invalid lock {_show(kind)}:{_show(key)}")
    return f"{kind}.{key}.lock"


def image_name(kind: str, digest: str, project: str = "") -> str:
    """An image podspawn builds: a project's (``podspawn/<project>:podfile-<digest>``, the Go
    implementation's tag), the podspawn layer over a base image (``podspawn/base:<digest>``)
    or a base built from a repository's Dockerfile and context (``podspawn/build:<digest>``),
    or a base with a devcontainer's Features installed (``podspawn/features:<digest>``).

    They never meet: a project tag starts with ``podfile-`` and the others are bare hex,
    even for a project called ``base`` or ``build``.

    Raises:
        InvalidName: the project name is invalid, or ``digest`` is not 12 hex digits.
    """
    if len(digest) != 12 or any(ch not in _HEX for ch in digest):
        raise InvalidName(f"{_show(digest)} is not a 12-hex-digit image digest")
    if kind == "project":
        return f"{PREFIX}/{validate_project(project)}:podfile-{digest}"
    if kind == "layer" and not project:
        return f"{PREFIX}/base:{digest}"
    if kind == "build" and not project:
        return f"{PREFIX}/build:{digest}"
    if kind == "features" and not project:
        return f"{PREFIX}/features:{digest}"
    raise InvalidName(f"unknown image kind {_show(kind)}")


def install_tag(install_id: str) -> str:
    """Four hex digits naming an installation on this host, in bridge and chain names.

    Derived by hashing, so any id gives hex. Two installations on one host share a tag with
    odds of 1 in 65536; they then apply both policies to both sets of bridges, which only
    ever restricts more (each policy ends in a reject), never less.

    Raises:
        InvalidName: ``install_id`` is empty.
    """
    if not install_id or not isinstance(install_id, str):
        raise InvalidName("an installation id is needed to name its bridges")
    import hashlib  # only on the cold path: auth-keys imports this module

    return hashlib.sha256(f"podspawn-install:{install_id}".encode()).hexdigest()[:4]


def bridge_prefix(install_id: str) -> str:
    """The start of every session bridge interface of this installation (``psp`` + tag)."""
    return BRIDGE_PREFIX + install_tag(install_id)


def bridge_name(install_id: str, network: str) -> str:
    """The host interface of a session network: ``psp`` + tag + 8 hex of the network name.

    Linux allows 15 characters, so this cannot be injective: within one installation two
    networks share one only with odds of about n^2 / 2^33 (3e-5 for 500 live networks), and
    Docker then refuses the second network, so a collision fails a login; it never joins two
    tenants on one bridge.

    Raises:
        InvalidName: ``install_id`` or ``network`` is empty.
    """
    if not network or not isinstance(network, str):
        raise InvalidName("a network name is needed to name its bridge")
    import hashlib

    return bridge_prefix(install_id) + hashlib.sha256(network.encode()).hexdigest()[:8]


def chain_name(kind: str, install_id: str) -> str:
    """One of this installation's packet-filter chains: ``PODSPAWN-<kind>-<tag>``.

    Raises:
        InvalidName: ``kind`` is not one of :data:`CHAIN_KINDS`, or ``install_id`` is empty.
    """
    if kind not in CHAIN_KINDS:
        raise InvalidName(f"unknown chain kind {_show(kind)}")
    return f"PODSPAWN-{kind}-{install_tag(install_id)}"


_HEX = frozenset("0123456789abcdef")


def bind_staging_name(user: str, project: str, session: str) -> str:
    """The directory under the state's ``binds`` root holding one session's staged host binds:
    ``<user>.<project>.<session>``.

    ``.`` is in no user or project name and a session id is hex, so the name splits back
    apart (:func:`parse_bind_staging_name`), which is how ``cleanup`` finds the user whose
    lock it must take before releasing a crashed session's mounts.

    Raises:
        InvalidName: a part is not a valid user, project or session id.
    """
    validate_user(user)
    if project:
        validate_project(project)
    if not _is_session_id(session):
        raise InvalidName(f"invalid session id {_show(session)}")
    return f"{user}.{project}.{session}"


def parse_bind_staging_name(name: str) -> tuple[str, str, str] | None:
    """``(user, project, session)`` of a :func:`bind_staging_name`; None for anything else."""
    parts = name.split(".")
    if len(parts) != 3:
        return None
    user, project, session = parts
    if not _user_ok(user) or (project and not _project_ok(project)):
        return None
    return (user, project, session) if _is_session_id(session) else None


def bind_mount_name(service: str, index: int) -> str:
    """The staging mount point of a service's ``index``-th volume: ``<service>.<index>``.

    Raises:
        InvalidName: the service name is invalid or the index negative.
    """
    validate_service(service)
    if index < 0:
        raise InvalidName(f"invalid volume index {index}")
    return f"{service}.{index}"


def _is_session_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(ch in _HEX for ch in value)
_VOLUME_FIRST = _ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _volume_ok(name: object) -> bool:
    """What a Podfile may call a named volume (``podfile.model.VOLUME_NAME_PATTERN``)."""
    body = _VOLUME_FIRST | {"_", ".", "-"}
    return _label(name, first=_VOLUME_FIRST, middle=body, last=body, longest=64)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
