"""The dev container's own storage and capabilities (a Podfile's ``volumes`` and
``cap_add``, from a devcontainer's ``mounts``, ``runArgs`` and ``capAdd``).

Named volumes are the (user, project)'s, like a companion's. A host path is checked and
staged by :mod:`podspawn.services.binds` exactly as a companion's is, just before the
session container is created, so it is mounted ``nosuid,nodev`` from the directory that was
checked; the session's staging directory (and its release) is the companions' one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from podspawn.errors import PodfileError
from podspawn.runtime.spec import Bind, Volume
from podspawn.services.binds import BindPolicy, Refused, check, refusal, stage
from podspawn.services.companions import split_volumes

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig
    from podspawn.podfile import Podfile

#: The name the session container's staged binds take (no service is called this: a
#: service name cannot start with a dash).
_SESSION = "-session"


def session_volumes(podfile: Podfile) -> tuple[Volume, ...]:
    return split_volumes(podfile.volumes)[0]


def stage_session_binds(podfile: Podfile, policy: BindPolicy) -> tuple[Bind, ...]:
    """Check and stage the dev container's host binds; what the engine mounts.

    Raises:
        PodfileError: a host path is refused; the sentence names the Podfile entry.
        RuntimeFailure: the kernel refused the staging mount.
    """
    staged = []
    for bind in split_volumes(podfile.volumes)[1]:
        try:
            path = stage(bind.source, policy=policy, name=f"{_SESSION}.{bind.index}",
                         read_only=bind.read_only)
        except Refused as exc:
            raise refusal(f"volumes.{bind.index}", podfile.volumes[bind.index], exc) from None
        staged.append(Bind(source=path, target=bind.target))
    return tuple(staged)


def check_session_binds(podfile: Podfile, roots: tuple[str, ...]) -> None:
    """:func:`stage_session_binds`'s check, made early (``add-project``).

    Raises:
        PodfileError: as :func:`stage_session_binds`.
    """
    for bind in split_volumes(podfile.volumes)[1]:
        try:
            check(bind.source, roots)
        except Refused as exc:
            raise refusal(f"volumes.{bind.index}", podfile.volumes[bind.index], exc) from None


def check_caps(config: ServerConfig, podfile: Podfile) -> None:
    """Refuse capabilities the admin's ``security.cap_add`` does not grant every session.

    Raises:
        PodfileError: naming the capabilities.
    """
    granted = set(config.security.cap_add)
    if "ALL" in config.security.cap_add:
        return
    missing = [cap for cap in podfile.cap_add if cap not in granted]
    if missing:
        raise PodfileError(
            f"the Podfile's cap_add asks for {', '.join(missing)}, which this server does not "
            "grant (security.cap_add); remove it, or ask an administrator to add it")
