"""The labels podspawn puts on every engine object, and the one rule for "this one is ours".

Names are not proof of ownership: a name can be taken by anyone who can create a container,
and before this release two tenants' objects could even share one. So nothing is removed or
reused on the strength of its name. Every container, network and volume carries its
installation, user, project, role and session, and :func:`carries` compares them first.

The keys ``managed-by``, ``podspawn-user``, ``podspawn-project`` and ``podspawn-service`` are
the Go implementation's; the others are podspawn's own.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the login path imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

MANAGED_BY = "managed-by"
MANAGED_BY_VALUE = "podspawn"
INSTANCE = "podspawn-instance"
USER = "podspawn-user"
PROJECT = "podspawn-project"
SERVICE = "podspawn-service"
#: What the object is to its session: one of :data:`ROLES`.
ROLE = "podspawn-role"
#: The session row's id, so a half-made session's objects are found before any id is stored.
SESSION = "podspawn-session"
#: ``server`` or ``local``; a server's cleanup never touches ``local`` objects.
MODE = "podspawn-mode"

#: On every object of a warm-pool slot (``services.pools``): the slot. Such objects carry
#: an empty user until a login claims them, and keep it: labels cannot change.
POOL = "podspawn-pool"

ROLES = ("session", "service", "network", "volume", "workspace")

#: On a layer image (``podspawn/base:<hash>``): the base image it was built over.
BASE = "podspawn-base"

#: On a throw-away container of ``doctor`` or ``verify-image``: the run's token. Such a
#: container carries no installation id, so cleanup never takes it for a session's orphan.
CHECK = "podspawn-check"
CHECK_ROLE = "check"


def owner(iid: str, user: str, project: str) -> dict[str, str]:
    """The labels that say "this installation's, for this (user, project)"."""
    return {MANAGED_BY: MANAGED_BY_VALUE, INSTANCE: iid, USER: user, PROJECT: project}


def pool_owner(iid: str, project: str, slot: str) -> dict[str, str]:
    """The labels that say "this installation's warm-pool slot ``slot`` of ``project``"."""
    return {**owner(iid, "", project), POOL: slot}


def for_image(*, project: str = "", base: str = "") -> dict[str, str]:
    """The labels of an image podspawn builds: a project's, or the layer over ``base``."""
    found = {MANAGED_BY: MANAGED_BY_VALUE}
    if project:
        found[PROJECT] = project
    if base:
        found[BASE] = base
    return found


def for_object(
    iid: str, user: str, project: str, role: str, *, session: str = "", service: str = ""
) -> dict[str, str]:
    """Every label of one object of a session.

    Raises:
        ValueError: ``role`` is not one of :data:`ROLES`.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    labels = {**owner(iid, user, project), ROLE: role}
    if session:
        labels[SESSION] = session
    if service:
        labels[SERVICE] = service
    return labels


def carries(labels: Mapping[str, str], expected: Mapping[str, str]) -> bool:
    """Whether an object with ``labels`` carries every pair of ``expected``.

    Objects made before roles and session ids existed have neither label; for them those two
    are not compared, so that sessions from the previous release can still be ended. They
    still must match installation, user and project, which is what keeps tenants apart.
    """
    for key, value in expected.items():
        if key in (ROLE, SESSION) and key not in labels:
            continue
        if labels.get(key) != value:
            return False
    return True
