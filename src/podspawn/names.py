"""Validate names that come from users, and derive every resource name from them.

Every user, project and service name passes through here, and no other module builds a
container, network or lock-file name. A name that is valid is used as it is, so the names
match the Go implementation (``podspawn-<user>-<project>``); where two different inputs could
produce the same name (a user called ``a-b`` against user ``a`` with project ``b``), a short
hash of the unambiguous pair is appended.
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
_MAX_CONTAINER_NAME = 63  # keeps the name usable as a hostname too


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


def session_base(user: str, project: str = "") -> str:
    """The name shared by a session's container, hostname and network prefix.

    ``podspawn-<user>`` or ``podspawn-<user>-<project>``; with a hash suffix when the user
    name contains ``-`` (so it could be mistaken for a user/project split) or the result
    would be longer than a hostname may be.
    """
    validate_user(user)
    if project:
        validate_project(project)
    parts = [PREFIX, user] + ([project] if project else [])
    name = "-".join(parts)
    if "-" in user or len(name) > _MAX_CONTAINER_NAME - 12:
        import hashlib  # only for names that need a disambiguating suffix

        digest = hashlib.sha256(f"{user}\0{project}".encode()).hexdigest()[:8]
        # "_" never follows the user/project split in a plain name, so no project a client
        # sends can spell a hashed name (user "a" + project "b-h<digest>" spelt user "a-b")
        name = f"{name[: _MAX_CONTAINER_NAME - 10]}_h{digest}"
    return name


def container_name(user: str, project: str = "") -> str:
    return session_base(user, project)


def network_name(user: str, project: str = "") -> str:
    return f"{session_base(user, project)}-net"


def service_container_name(user: str, project: str, service: str) -> str:
    return f"{session_base(user, project)}-{validate_service(service)}"


def volume_name(user: str, project: str, volume: str) -> str:
    """A Podfile service's named volume, private to one user's session of one project."""
    if not _service_ok(volume):
        raise InvalidName(f"invalid volume name {_show(volume)}")
    return f"{session_base(user, project)}-vol-{volume}"


def workspace_volume(user: str, project: str) -> str:
    """The volume holding a user's checkout of a project; it outlives the container."""
    return f"{session_base(user, validate_project(project))}-workspace"


def lock_file_name(user: str) -> str:
    return f"{validate_user(user)}.lock"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
