"""``podspawn status``: the server at a glance, as text, JSON or Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App

if TYPE_CHECKING:
    from podspawn.services.summary import Summary


@click.command("status")
@click.option("--prometheus", is_flag=True,
              help="Print Prometheus metrics (the text exposition format).")
@click.pass_obj
def status(app: App, prometheus: bool) -> None:
    """Summarize sessions, connections, containers, users, projects and address pools."""
    import sys

    from podspawn.errors import UsageError
    from podspawn.services.summary import summarize

    if prometheus and app.json_mode:
        raise UsageError("--json and --prometheus are two formats of the same data; "
                         "choose one of them")
    config, conn = app.admin_context("status", echo=False)
    summary = summarize(config=config, conn=conn)
    if prometheus:
        from podspawn.services.metrics import render_status

        sys.stdout.write(render_status(summary))
        return
    if app.json_mode:
        app.output.data(summary_data(summary))
        return
    for line in summary_lines(summary):
        app.output.line(line)


def summary_data(summary: Summary) -> dict[str, object]:
    """The documented ``status --json`` shape."""
    engine = summary.engine
    return {
        "sessions": summary.total_sessions,
        "sessions_by_status": dict(summary.sessions),
        "connections": summary.connections,
        "users": summary.users,
        "projects": summary.projects,
        "oldest_session_seconds": None if summary.oldest_session_seconds is None
        else round(summary.oldest_session_seconds),
        "engine_up": engine is not None,
        "engine_error": summary.engine_error or None,
        "containers": None if engine is None else engine.containers,
        "address_pool": None if engine is None else {
            "capacity": engine.pool_capacity, "free": engine.pool_free,
            "source": engine.pools_source},
        "warm_pools": [{"project": name, "target": pool.target, "ready": pool.ready,
                        "starting": pool.starting} for name, pool in summary.warm.items()],
    }


def summary_lines(summary: Summary) -> list[str]:
    """The text form, aligned like the Go implementation's ``status``."""
    from podspawn.units import format_duration

    counts = ", ".join(f"{n} {status}" for status, n in summary.sessions.items())
    engine = summary.engine
    lines = [
        f"Sessions:      {summary.total_sessions} total ({counts})",
        f"Connections:   {summary.connections} active",
        f"Users:         {summary.users}",
        f"Projects:      {summary.projects}",
    ]
    if summary.oldest_session_seconds is not None:
        lines.append(f"Oldest:        {format_duration(summary.oldest_session_seconds)}")
    if engine is None:
        lines.append(f"Containers:    unknown, the engine does not answer ({summary.engine_error})")
        lines.append("Address pool:  unknown")
    else:
        lines.append(f"Containers:    {engine.containers} in the engine")
        lines.append(f"Address pool:  {engine.pool_free} of {engine.pool_capacity} subnets "
                     f"free ({engine.pools_source}; each session takes one)")
    for name, pool in summary.warm.items():
        lines.append(f"Warm pool:     {name or '(default)'}: {pool.ready} ready of "
                     f"{pool.target}" + (f", {pool.starting} starting" if pool.starting else ""))
    return lines
