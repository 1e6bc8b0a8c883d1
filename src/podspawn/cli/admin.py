"""``podspawn list`` and ``podspawn cleanup``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App, positive_duration

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from podspawn.config.schema import ServerConfig
    from podspawn.services.cleanup import CleanupResult

    PassHook = Callable[[CleanupResult | None, float], None]


@click.command("list")
@click.option("--local", "local", is_flag=True,
              help="Your machines and local sessions, from ~/.podspawn; no root (the default "
              "for a non-root user on a host with no server config).")
@click.pass_obj
def list_sessions(app: App, local: bool) -> None:
    """Show every session: who is connected, for how long, and what is left."""
    import os

    from podspawn.services.status import list_session_views
    from podspawn.units import format_duration

    if local or (os.geteuid() != 0 and not os.path.exists(app.resolved_config_path())):
        _list_local(app)
        return
    _, conn = app.admin_context("list", echo=False)
    views = list_session_views(conn)
    out = app.output
    if app.json_mode:
        out.data([
            {"user": v.user, "project": v.project, "container": v.container,
             "status": v.status, "connections": v.connections,
             "age_seconds": round(v.age_seconds), "mode": v.mode,
             "lifetime_left_seconds": None if v.lifetime_left_seconds is None
             else round(v.lifetime_left_seconds),
             "grace_left_seconds": None if v.grace_left_seconds is None
             else round(v.grace_left_seconds),
             "idle_seconds": round(v.idle_seconds),
             "idle_timeout_seconds": round(v.idle_timeout_seconds) or None}
            for v in views
        ])
        return
    rows = []
    for v in views:
        if v.lifetime_left_seconds is None:
            left = "-"
        elif v.lifetime_left_seconds <= 0:
            left = "expired"
        else:
            left = format_duration(v.lifetime_left_seconds)
        rows.append((v.user, v.project or "(default)", v.container, v.status,
                     str(v.connections), format_duration(v.age_seconds), left,
                     format_duration(v.idle_seconds)))
    out.table(("USER", "PROJECT", "CONTAINER", "STATUS", "CONNS", "AGE", "LIFETIME LEFT", "IDLE"),
              rows, empty="No sessions.")


def _list_local(app: App) -> None:
    """Your machines and local sessions (no server here, or ``--local``)."""
    import time

    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import listing
    from podspawn.units import format_duration

    items = listing(open_context())
    now = time.time()
    out = app.output
    if app.json_mode:
        data = []
        for item in items:
            row = item.session
            grace = (row.grace_expiry - now if row is not None and row.status == "grace_period"
                     and row.grace_expiry is not None else None)
            data.append({
                "name": item.name, "kind": item.kind, "status": item.status,
                "branch": item.branch or None, "image": item.image or None,
                "age_seconds": round(now - item.created_at),
                "user": row.user if row else None, "project": row.project if row else None,
                "container": row.container_name if row else None,
                "connections": row.connections if row else 0,
                "mode": row.mode if row else None,
                "grace_left_seconds": None if grace is None else round(grace),
            })
        out.data(data)
        return
    out.table(("NAME", "KIND", "STATUS", "BRANCH", "IMAGE", "CONNS", "AGE"),
              [(i.name, i.kind, i.status, i.branch or "-", i.image or "-",
                str(i.session.connections if i.session else 0),
                format_duration(now - i.created_at)) for i in items],
              empty="No machines or local sessions.")


@click.command("cleanup")
@click.option("--daemon", is_flag=True, help="Keep running, one pass per interval.")
@click.option("--interval", default="1m", show_default=True, metavar="DURATION",
              help="Time between passes with --daemon (such as 30s, 1m).")
@click.option("--local", "local", is_flag=True,
              help="End your expired local-mode sessions (podspawn dev) now; no root.")
@click.option("--metrics-listen", default="", metavar="ADDR:PORT",
              help="With --daemon, also serve Prometheus metrics at http://ADDR:PORT/metrics.")
@click.pass_obj
def cleanup(app: App, daemon: bool, interval: str, local: bool, metrics_listen: str) -> None:
    """Expire grace periods and lifetimes, repair counts, remove orphans."""
    from podspawn.errors import UsageError
    from podspawn.runtime import get_runtime
    from podspawn.services.cleanup import run_daemon, run_pass

    if local:
        from podspawn.services.local.context import open_context
        from podspawn.services.local.sessions import reconcile_now

        ended = reconcile_now(open_context())
        if app.json_mode:
            app.output.data({"sessions_ended": ended})
        else:
            app.output.line(f"Ended {len(ended)} expired local session(s).")
        return
    seconds = positive_duration("--interval", interval, "30s or 1m")
    if daemon and app.json_mode:
        raise UsageError("--json does not apply to cleanup --daemon, which prints no data; "
                         "drop one of them")
    if metrics_listen and not daemon:
        raise UsageError("--metrics-listen needs --daemon: only a process that keeps running "
                         "can serve metrics")
    if metrics_listen:
        from podspawn.services.metrics import parse_listen

        parse_listen(metrics_listen)  # a typo fails before anything starts
    config, conn = app.admin_context("cleanup", echo=True)
    runtime = get_runtime(config.runtime.backend)
    if daemon:
        run_daemon(config=config, conn=conn, runtime=runtime, interval=seconds,
                   on_pass=_serve_metrics(config, conn, metrics_listen))
        return
    result = run_pass(config=config, conn=conn, runtime=runtime)
    if app.json_mode:
        app.output.data({"grace_expired": result.grace_expired,
                         "lifetime_expired": result.lifetime_expired,
                         "orphans_removed": result.orphans_removed,
                         "rows_dropped": result.rows_dropped,
                         "users_expired": result.users_expired, "warned": result.warned,
                         "idle_ended": result.idle_ended,
                         "pool_warning": result.pool_warning,
                         "warm_made": result.warm_made,
                         "warm_drained": result.warm_drained})
        return
    if result.pool_warning:
        app.output.line(f"Warning: {result.pool_warning}.")
    app.output.line("Cleanup pass complete.")


def _serve_metrics(config: ServerConfig, conn: sqlite3.Connection, listen: str
                   ) -> PassHook | None:
    """Start the metrics endpoint on ``listen``; the daemon's per-pass hook (None: off)."""
    if not listen:
        return None
    from podspawn import log
    from podspawn.services.metrics import DaemonMetrics

    metrics = DaemonMetrics(config, conn)
    metrics.serve(listen)
    log.info("serving metrics", listen=listen, path="/metrics")

    def on_pass(result: CleanupResult | None, seconds: float) -> None:
        metrics.record_pass(result, seconds)
        metrics.ingest(conn)

    return on_pass


@click.command("stop")
@click.argument("target", metavar="USER[@PROJECT]")
@click.pass_obj
def stop(app: App, target: str) -> None:
    """End a session now: its container, services and network."""
    from podspawn.services.sessions import stop_session

    user, _, project = target.partition("@")
    config, conn = app.admin_context("stop")
    row = stop_session(config=config, conn=conn, user=user, project=project)
    if app.json_mode:
        app.output.data({"user": row.user, "project": row.project,
                         "container": row.container_name})
        return
    app.output.line(f"stopped {row.container_name}")
