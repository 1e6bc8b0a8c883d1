"""A Podfile's ``env`` split into what the image bakes in and what each session fills in
(``${PODSPAWN_USER}``, ``${PODSPAWN_PROJECT}``, ``${PODSPAWN_HOME}``), and the default
workspace path: pure functions a login uses, apart from the models so it needs no pydantic.
"""

from __future__ import annotations

import posixpath
import re

TYPE_CHECKING = False  # not typing's: the login path imports this module
if TYPE_CHECKING:
    from podspawn.podfile.model import Podfile

#: Variables that may appear in ``env`` values as ``${NAME}``; they are filled in when the
#: container is created, so such values never go into the image.
DEFERRED_VARIABLES = ("PODSPAWN_USER", "PODSPAWN_PROJECT", "PODSPAWN_HOME")
DEFERRED_RE = re.compile(r"\$\{(PODSPAWN_[A-Za-z0-9_]*)\}")


def image_env(podfile: Podfile) -> dict[str, str]:
    """The variables baked into the image: every ``env`` value without ``${PODSPAWN_...}``."""
    return {key: value for key, value in podfile.env.items() if not is_deferred(value)}


def session_env(podfile: Podfile, *, user: str, project: str, home: str) -> dict[str, str]:
    """The variables set when a session's container is created, with their values filled in.

    Only values that use ``${PODSPAWN_USER}``, ``${PODSPAWN_PROJECT}`` or ``${PODSPAWN_HOME}``
    are returned; the others are already in the image (:func:`image_env`). ``project`` may be
    empty for a session without a project.
    """
    values = {"PODSPAWN_USER": user, "PODSPAWN_PROJECT": project, "PODSPAWN_HOME": home}
    return {
        key: DEFERRED_RE.sub(lambda match: values[match.group(1)], value)
        for key, value in podfile.env.items()
        if is_deferred(value)
    }


def is_deferred(value: str) -> bool:
    """Whether an env value is filled in per session instead of being baked into the image."""
    return DEFERRED_RE.search(value) is not None


def default_workspace(project: str) -> str:
    """Where the project lives in the container when ``workspace`` is unset."""
    return posixpath.join("/workspace", project)
