"""``podspawn firewall apply|status|remove``: the packet filter that keeps containers off
the host."""

from __future__ import annotations

from typing import Any

import click

from podspawn.cli.app import App


@click.group("firewall")
def firewall() -> None:
    """Keep containers off this host: install, check or remove the packet-filter policy."""


@firewall.command("apply")
@click.pass_obj
def apply(app: App) -> None:
    """Install the policy now (server-setup and cleanup do it too); idempotent."""
    from podspawn.runtime import get_runtime
    from podspawn.services.firewall import apply as run

    config, conn = app.admin_context("firewall apply")
    result = run(config=config, conn=conn, runtime=get_runtime(config.runtime.backend))
    _render(app, result)


@firewall.command("status")
@click.option("--json", "json_mode", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(app: App, json_mode: bool) -> int:
    """Compare the installed policy with the config; exit 1 when it is not in place."""
    from podspawn.runtime import get_runtime
    from podspawn.services.firewall import status as check

    app.json_mode = app.json_mode or json_mode
    config, conn = app.admin_context("firewall status", echo=False)
    result = check(config=config, conn=conn, runtime=get_runtime(config.runtime.backend))
    _render(app, result)
    return 0 if result.in_place else 1


@firewall.command("remove")
@click.pass_obj
def remove(app: App) -> None:
    """Delete this installation's chains (when uninstalling); containers are then open."""
    from podspawn.services.firewall import remove as run

    config, conn = app.admin_context("firewall remove")
    removed = run(config=config, conn=conn)
    app.output.line(f"removed {len(removed)} chain(s)" if removed else "no chain to remove")


def _render(app: App, result: Any) -> None:
    out = app.output
    if app.json_mode:
        out.data({
            "in_place": result.in_place,
            "bridge_prefix": result.bridge_prefix,
            "egress": list(result.egress),
            "legacy_bridges": list(result.legacy),
            "applied": list(result.applied),
            "families": [{"family": f.family, "state": f.state, "problems": list(f.problems),
                          "chains": list(f.chains), "hooks": list(f.hooks),
                          "repaired": list(f.repaired)}
                         for f in result.families],
        })
        return
    out.line(f"network policy {'in place' if result.in_place else 'NOT in place'} for "
             f"bridges {result.bridge_prefix}+"
             + (f" and {', '.join(result.legacy)}" if result.legacy else ""))
    out.line("egress: " + (", ".join(result.egress) or "none beyond the session network")
             + "; never: this host, 169.254.0.0/16")
    for fam in result.families:
        done = " (written now)" if fam.family in result.applied else ""
        out.line(f"{fam.family}: {fam.state}{done}")
        for problem in fam.problems:
            out.line(f"  {problem}")
        for problem in fam.repaired:
            out.line(f"  was: {problem}")
