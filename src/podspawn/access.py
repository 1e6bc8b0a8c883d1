"""Who may use a project: its access list (``projects.NAME.users`` and ``.groups``).

Shared by the cold path (``services.sessions.check_access``) and the warm login, which reads
the lists from the login snapshot; standard library only, since both run on every login.
Groups are the host's: the login account's primary group counts as well as ``/etc/group``.
"""

from __future__ import annotations

import grp
import pwd

from podspawn.errors import PermissionDenied

TYPE_CHECKING = False  # not typing's: the login path imports this module
if TYPE_CHECKING:
    from collections.abc import Iterable


def allowed(user: str, users: Iterable[str], groups: Iterable[str]) -> bool:
    """Whether ``user`` is named in ``users`` or belongs to one of ``groups``."""
    if user in set(users):
        return True
    wanted = set(groups)
    if not wanted:
        return False
    try:
        primary = pwd.getpwnam(user).pw_gid
    except KeyError:
        return False
    for name in wanted:
        try:
            group = grp.getgrnam(name)
        except KeyError:
            continue
        if group.gr_gid == primary or user in group.gr_mem:
            return True
    return False


def check(user: str, project: str, users: Iterable[str] | None,
          groups: Iterable[str] | None) -> None:
    """Refuse ``user`` if the project has an access list (either part set) without them.

    Raises:
        PermissionDenied: the one sentence a refused user sees.
    """
    if users is None and groups is None:
        return
    if not allowed(user, users or (), groups or ()):
        raise PermissionDenied(
            f"you are not on the access list of project {project}; ask an administrator to "
            "add you to it"
        )
