"""Keep every container off the host: install, check and remove the packet-filter policy.

Session and companion containers must open no connection to the host (any of its
addresses, any port it publishes), to cloud metadata (169.254.0.0/16) or beyond
``security.egress``. The rules are rendered in ``firewall_rules``; this module reads the
live table with ``iptables-save`` and writes it with ``iptables-restore --noflush``, one
atomic transaction per family, through the same ``iptables`` Docker uses (Debian 12:
iptables-nft), and only ever changes chains and jumps of its own.

The policy does not survive a reboot or a flush of the tables, so it is put back from
three places: ``server-setup``, every ``cleanup`` pass, and every cold login before a
session container starts or restarts (:func:`guard_login`), which fails closed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

from podspawn import audit, labels, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError, RuntimeUnavailable, SetupError
from podspawn.locks import file_lock, lock_path
from podspawn.names import bridge_prefix, install_tag
from podspawn.runtime import RESOLVER_ON_BRIDGE
from podspawn.runtime.base import Runtime
from podspawn.services.firewall_rules import (
    FAMILIES,
    Family,
    Ruleset,
    Table,
    forward_hook,
    installed_legacy,
    parse_table,
    problems,
    removal_script,
    render,
    restore_script,
)
from podspawn.state.db import install_id

TYPE_CHECKING = False  # not typing's: the state layer alone imports sqlite3 at run time
if TYPE_CHECKING:
    import sqlite3

_SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"


@dataclass(frozen=True, slots=True)
class FamilyStatus:
    family: str
    state: str
    """``in place``, ``missing`` (no chain of ours), ``outdated`` or ``unavailable``."""
    problems: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()
    """What was wrong before this call wrote the family (empty when it did not)."""


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    bridge_prefix: str
    egress: tuple[str, ...]
    legacy: tuple[str, ...]
    """Bridges of sessions from before bridges were named, covered one by one."""
    families: tuple[FamilyStatus, ...]
    applied: tuple[str, ...] = ()
    """Families this call (re)wrote."""

    @property
    def in_place(self) -> bool:
        return all(f.state in ("in place", "unavailable") for f in self.families) and any(
            f.state == "in place" for f in self.families)


def status(*, config: ServerConfig, conn: sqlite3.Connection,
           runtime: Runtime | None) -> PolicyStatus:
    """What is installed, compared with what the config asks for; changes nothing."""
    return _converge(config, conn, runtime, write="never")


def apply(*, config: ServerConfig, conn: sqlite3.Connection,
          runtime: Runtime | None) -> PolicyStatus:
    """Write the policy of every available family, whatever is installed (idempotent).

    Raises:
        SetupError: iptables is missing or refused the rules.
    """
    return _converge(config, conn, runtime, write="always")


def ensure(*, config: ServerConfig, conn: sqlite3.Connection,
           runtime: Runtime | None) -> PolicyStatus:
    """Write the policy only where it is missing or stale, logging each repair.

    Raises:
        SetupError: iptables is missing or refused the rules.
    """
    result = _converge(config, conn, runtime, write="repair")
    for fam in result.families:
        if fam.family in result.applied:
            log.warning("network policy was not in place, re-applied", family=fam.family,
                        problems="; ".join(fam.repaired))
    return result


def guard_login(*, config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime) -> None:
    """Before a cold login starts a container: the policy is in place, or nothing starts.

    Raises:
        SetupError: the policy could not be installed (the user sees a sentence for them;
            the cause goes to the log).
    """
    try:
        ensure(config=config, conn=conn, runtime=runtime)
    except PodspawnError as exc:
        log.error("network policy could not be installed, refusing to start a container",
                  error=exc.detail or exc.message)
        raise SetupError(
            "the server's network policy is not in place, so no container may start; ask an "
            "administrator to run 'podspawn firewall apply'",
            detail=exc.detail or exc.message,
        ) from exc


def remove(*, config: ServerConfig, conn: sqlite3.Connection) -> list[str]:
    """Delete this installation's chains and the jumps into them; the chains removed.

    Raises:
        SetupError: iptables refused the removal.
    """
    iid = install_id(conn)
    removed: list[str] = []
    with _lock(config, iid):
        for family in FAMILIES:
            table = _read(family)
            if table is None:
                continue
            script = removal_script(iid, table)
            if script:
                _restore(family, script)
                removed += [f"{family.name}:{line[3:]}" for line in script.splitlines()
                            if line.startswith("-X ")]
    if removed:
        log.info("network policy removed", chains=" ".join(removed))
        audit.record("firewall.remove", chains=removed)
    return removed


def _converge(config: ServerConfig, conn: sqlite3.Connection, runtime: Runtime | None,
              *, write: str) -> PolicyStatus:
    iid = install_id(conn)
    egress = tuple(config.security.egress)
    bridge_dns = config.runtime.backend in RESOLVER_ON_BRIDGE
    families: list[FamilyStatus] = []
    applied: list[str] = []
    with _lock(config, iid) if write != "never" else nullcontext():
        tables = {family.name: _read(family) for family in FAMILIES}
        if tables["ipv4"] is None:
            raise SetupError("iptables is not installed, so containers could reach this "
                             "host; run: apt-get install -y iptables")
        legacy = _legacy(runtime, iid, tables)
        for family in FAMILIES:
            table = tables[family.name]
            if table is None:
                families.append(FamilyStatus(family.name, "unavailable"))
                continue
            ruleset = render(family, install_id=iid, egress=egress, legacy=legacy,
                             hook=forward_hook(family, table), bridge_dns=bridge_dns)
            found = problems(ruleset, table)
            if write == "always" or (write == "repair" and found):
                _restore(family, restore_script(ruleset, table))
                applied.append(family.name)
                after = _read(family)
                left = problems(ruleset, after) if after is not None else ["unreadable"]
                if left:
                    raise SetupError(
                        f"{family.tool} took podspawn's rules but they did not stay in "
                        f"place ({left[0]}); check what else manages the packet filter",
                        detail="; ".join(left))
                families.append(replace(_family_status(ruleset, table, ()),
                                        repaired=tuple(found)))
                continue
            families.append(_family_status(ruleset, table, found))
    if applied:
        audit.record("firewall.apply", families=applied, egress=list(egress),
                     legacy=list(legacy))
    return PolicyStatus(bridge_prefix=bridge_prefix(iid), egress=egress, legacy=legacy,
                        families=tuple(families), applied=tuple(applied))


def _family_status(ruleset: Ruleset, table: Table, found: Sequence[str]) -> FamilyStatus:
    if not found:
        state = "in place"
    elif not any(chain in table.chains for chain in ruleset.chains):
        state = "missing"
    else:
        state = "outdated"
    return FamilyStatus(
        family=ruleset.family.name, state=state, problems=tuple(found),
        chains=ruleset.chains, hooks=tuple(f"{a} -> {b}" for a, b in ruleset.hooks))


def _legacy(runtime: Runtime | None, iid: str,
            tables: dict[str, Table | None]) -> tuple[str, ...]:
    """Bridges of this installation's networks that predate bridge names (``br-<id>``).

    Asked of the engine; when it cannot answer, the ones the installed policy already
    covers are kept, so a pass while dockerd is down never drops an old session's rules.
    """
    prefix = bridge_prefix(iid)
    ours = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: iid}
    try:
        if runtime is None:
            raise RuntimeUnavailable("no runtime given")
        networks = [f for f in runtime.find(ours) if f.kind == "network"]
    except RuntimeUnavailable:
        table = tables["ipv4"]
        return installed_legacy(iid, table) if table is not None else ()
    return tuple(sorted({n.interface for n in networks
                         if n.interface and not n.interface.startswith(prefix)}))


def _tool(family: Family, action: str) -> str | None:
    return shutil.which(f"{family.tool}-{action}", path=_SBIN)


def _read(family: Family) -> Table | None:
    """The family's filter table, or None when the family is unusable here (no ip6tables,
    or a kernel without IPv6)."""
    save = _tool(family, "save")
    if save is None:
        return None
    result = subprocess.run([save, "-t", "filter"], capture_output=True, text=True,
                            check=False, timeout=60)
    if result.returncode != 0:
        log.warning("cannot read the packet filter", family=family.name,
                    error=result.stderr.strip()[:300])
        return None
    return parse_table(result.stdout)


def _restore(family: Family, script: str) -> None:
    restore = _tool(family, "restore")
    if restore is None:
        raise SetupError(f"{family.tool}-restore is not installed; run: apt-get install -y "
                         "iptables")
    result = subprocess.run([restore, "--noflush", "--wait"], input=script,
                            capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        complaint = (result.stderr or result.stdout).strip().splitlines()
        raise SetupError(
            f"{family.tool} refused podspawn's rules "
            f"({complaint[0] if complaint else f'exit status {result.returncode}'}); "
            f"check that '{family.tool} -S' works",
            detail=f"{result.stderr.strip()[:1000]}\n{script}")


def _lock(config: ServerConfig, iid: str) -> AbstractContextManager[None]:
    """One writer at a time per installation: two cold logins at once must not both see a
    jump missing and both insert it."""
    return file_lock(lock_path(config.state.lock_dir, "firewall", install_tag(iid)), timeout=60)
