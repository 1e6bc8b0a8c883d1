"""Establish, in a way the user cannot forge, which podspawn user a ``spawn`` serves.

``spawn`` runs as root through one sudoers rule, so the user is ``SUDO_USER``, which sudo sets
from the real uid of the caller. The account must still exist with that uid and belong to the
``podspawn`` group. A ``--user`` argument (from the Go implementation's forced command) is
accepted only when it names the same user.
"""

from __future__ import annotations

import grp
import os
import pwd

from podspawn.errors import PermissionDenied
from podspawn.names import is_valid_user

GROUP = "podspawn"


def current_user(claimed: str | None) -> str:
    """The podspawn user this process serves.

    Raises:
        PermissionDenied: not run through the sudoers rule, or the account is not a podspawn
            account, or ``claimed`` names someone else.
    """
    if os.geteuid() != 0:
        raise PermissionDenied(
            "podspawn spawn must run through its sudoers rule; an administrator must run "
            "'podspawn server-setup'"
        )
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user is None:
        # root itself (an admin debugging) may name the user
        if claimed and is_valid_user(claimed) and os.getuid() == 0:
            return claimed
        raise PermissionDenied("podspawn spawn needs --user when run by root directly")
    if not is_valid_user(sudo_user):
        raise PermissionDenied("this account is not a podspawn user")
    try:
        entry = pwd.getpwnam(sudo_user)
    except KeyError:
        raise PermissionDenied("this account is not a podspawn user") from None
    if str(entry.pw_uid) != os.environ.get("SUDO_UID", ""):
        raise PermissionDenied("this account is not a podspawn user")
    try:
        group = grp.getgrnam(GROUP)
    except KeyError:
        raise PermissionDenied("podspawn is not set up on this server") from None
    if entry.pw_gid != group.gr_gid and sudo_user not in group.gr_mem:
        raise PermissionDenied("this account is not a podspawn user")
    if claimed and claimed != sudo_user:
        raise PermissionDenied("--user does not match the logged-in user")
    return sudo_user
