"""``dev``, ``down``, ``prebuild``: local mode, run as yourself on your own Docker."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App

if TYPE_CHECKING:
    from podspawn.services.local.sessions import Banner
    from podspawn.state.records import SessionRow


def _ports(value: str) -> tuple[int, ...]:
    from podspawn.errors import UsageError

    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--ports {value!r} is not a comma-separated list of port "
                         "numbers, such as 3000,8080") from None


def banner_lines(banner: Banner, home: str) -> list[str]:
    """The short banner ``dev`` prints (pure, for tests)."""
    if banner.reattached:
        minutes = max(0, int(time.time() - banner.started_at) // 60)
        return [f"Re-attaching to {banner.name} (started {minutes}m ago)"]
    lines = [f"{banner.name} | {banner.base}"]
    if banner.packages:
        shown = ", ".join(banner.packages[:5]) + (", ..." if len(banner.packages) > 5 else "")
        lines.append(f"  packages: {shown}")
    if banner.services:
        lines.append("  services: " + ", ".join(
            name + (" (" + ", ".join(f":{p}" for p in ports) + ")" if ports else "")
            for name, ports in banner.services))
    for choice in banner.ports:
        moved = f" ({choice.container} was busy)" if choice.moved else ""
        lines.append(f"  ports: 127.0.0.1:{choice.host} -> :{choice.container}{moved}")
    if banner.mount:
        source = banner.mount[0]
        if home and (source == home or source.startswith(home + "/")):
            source = "~" + source[len(home):]
        copy = "copy of " if banner.mount_mode == "copy" else ""
        lines.append(f"  mount: {copy}{source} -> {banner.mount[1]}")
    else:
        lines.append("  mount: none")
    lines.append("Run 'podspawn down' to stop.")
    return lines


def _banner_data(banner: Banner) -> dict[str, object]:
    return {"name": banner.name, "base": banner.base, "packages": list(banner.packages),
            "services": [{"name": n, "ports": list(p)} for n, p in banner.services],
            "ports": [{"host": c.host, "container": c.container, "host_ip": "127.0.0.1"}
                      for c in banner.ports],
            "mount": list(banner.mount) if banner.mount else None,
            "mount_mode": banner.mount_mode,
            "reattached": banner.reattached}


@click.command("dev", context_settings={"ignore_unknown_options": False})
@click.option("--name", default="", metavar="NAME", help="Session name (default: from the "
              "Podfile's name or the directory, plus a hash of its path).")
@click.option("--ports", "ports_text", default="", metavar="P,...",
              help="More container ports to publish on 127.0.0.1.")
@click.option("--ephemeral", is_flag=True, help="End the session when you leave.")
@click.option("--fresh", is_flag=True, help="End this directory's session first.")
@click.option("--mount", type=click.Choice(["bind", "copy", "none"]), default=None,
              help="Bind-mount this directory at the workspace (default), copy it in, or "
              "neither.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def dev(app: App, name: str, ports_text: str, ephemeral: bool, fresh: bool,
        mount: str | None, command: tuple[str, ...]) -> int:
    """Start (or re-attach to) this directory's environment and open a shell in it.

    After ``--``, COMMAND runs instead of a shell and its exit status is podspawn's.
    """
    from podspawn.names import validate_project
    from podspawn.services.local.context import open_context
    from podspawn.services.local.sessions import DevOptions, leave
    from podspawn.services.local.sessions import dev as start

    if name:
        validate_project(name)
    options = DevOptions(name=name, ports=_ports(ports_text), ephemeral=ephemeral,
                         fresh=fresh, mount=mount or "")
    ctx = open_context()
    out = app.output
    attached = start(ctx, os.getcwd(), options, progress=out.info)
    if app.json_mode:
        out.data(_banner_data(attached.banner))
    else:
        for line in banner_lines(attached.banner, os.path.expanduser("~")):
            out.info(line)
    try:
        return hand_off(attached.row, command)
    finally:
        leave(ctx, attached)


def hand_off(row: SessionRow, command: tuple[str, ...]) -> int:
    """Run COMMAND (or a login shell) in the session on this terminal; its exit status."""
    import signal
    import subprocess

    from podspawn.services.local.sessions import handoff_argv

    tty = sys.stdin.isatty() and sys.stdout.isatty()
    argv = handoff_argv(row, list(command), tty=tty)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the container's
    try:
        return subprocess.call(argv)
    finally:
        signal.signal(signal.SIGINT, previous)


@click.command("down")
@click.option("--name", default="", metavar="NAME", help="Session name (default: this "
              "directory's).")
@click.option("--clean", is_flag=True, help="Also remove its services' named volumes.")
@click.pass_obj
def down(app: App, name: str, clean: bool) -> None:
    """End this directory's session and its services."""
    from podspawn.services.local.context import open_context
    from podspawn.services.local.sessions import down as end

    ended = end(open_context(), os.getcwd(), name=name, clean=clean)
    out = app.output
    if app.json_mode:
        out.data({"name": ended.name, "stopped": ended.stopped,
                  "volumes_removed": list(ended.volumes)})
        return
    out.line(f"Stopped {ended.name}" if ended.stopped else f"No session {ended.name} was running")
    for volume in ended.volumes:
        out.line(f"Removed volume {volume}")


@click.command("prebuild")
@click.option("--tag", default="", metavar="TAG", help="Also name the image TAG.")
@click.pass_obj
def prebuild(app: App, tag: str) -> None:
    """Build this directory's image (the tag a server's add-project gives) and print it."""
    from podspawn.services.local.context import open_context
    from podspawn.services.local.sessions import prebuild as build

    out = app.output
    image = build(open_context(), os.getcwd(), tag=tag, progress=out.info)
    if app.json_mode:
        out.data({"tag": image})
        return
    out.line(image)
