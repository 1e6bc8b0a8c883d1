"""``podspawn doctor``: is this server able to serve logins, and if not, what to fix.

Each check is one small function of a :class:`Context` returning a frozen :class:`Check`:
``ok``, ``warn`` (works, but deserves a look) or ``FAIL`` (some login will not work, or a
protection is gone), and for anything not ok one sentence saying what to do. Checks only
read: they never migrate the database, repair a mode or build an image. The one thing a
check starts is a throw-away container for the ``.pod`` sshd test, which is removed again.

Checks that need the engine report ``warn: not checked`` when the ``docker`` check has
already failed, so one cause is reported once, where it can be fixed.
"""


from __future__ import annotations

import os

from podspawn.config.schema import ServerConfig
from podspawn.services.doctor import engine, host, paths
from podspawn.services.doctor.base import Check, CheckFn, Context, run_checks

__all__ = ["CHECKS", "Check", "Context", "diagnose"]

#: Every check, in the order reported: the engine first, so its failure explains the rest.
CHECKS: tuple[CheckFn, ...] = (
    engine.check_docker,
    host.check_sshd,
    host.check_sudoers,
    host.check_accounts,
    paths.check_key_store,
    paths.check_state,
    paths.check_config_files,
    paths.check_exec_paths,
    host.check_database,
    engine.check_default_image,
    engine.check_project_images,
    host.check_disk,
    engine.check_address_pools,
    host.check_packet_filter,
    engine.check_pod_sshd,
)


def diagnose(*, config: ServerConfig, config_path: str, binary: str,
             sshd_config: str) -> list[Check]:
    """Run every check against this installation; changes nothing."""
    runtime, facts, why = engine.connect(config.runtime.backend)
    try:
        users = tuple(sorted(n for n in os.listdir(config.auth.key_dir)
                             if not n.startswith(".")))
    except OSError:
        users = ()
    ctx = Context(config=config, config_path=config_path, binary=binary,
                  sshd_config=sshd_config, runtime=runtime, engine=facts, engine_error=why,
                  users=users)
    return run_checks(ctx, CHECKS)
