"""Named machines: ``create``, ``shell``, ``run``, ``rm``, ``switch-branch``."""

from __future__ import annotations

import click

from podspawn.cli.app import App

_IMAGE = click.option("--image", default="", metavar="IMAGE",
                      help="Image of a plain machine (default: defaults.image).")
_PROJECT = click.option("--project", default="", metavar="REPO",
                        help="Git repository (URL or local path) to clone as the workspace.")
_BRANCH = click.option("--branch", default="", metavar="BRANCH",
                       help="Branch to check out (needs --project; default: the repo's).")


@click.command("create")
@click.argument("name")
@_IMAGE
@_PROJECT
@_BRANCH
@click.pass_obj
def create(app: App, name: str, image: str, project: str, branch: str) -> None:
    """Make machine NAME (or retry one whose on_create failed) and start it."""
    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import check_request
    from podspawn.services.local.machines import create as make

    check_request(name, image=image, project=project, branch=branch)
    out = app.output
    machine, new = make(open_context(), name, image=image, project=project, branch=branch,
                        progress=out.info)
    if app.json_mode:
        out.data({"name": machine.name, "created": new, "image": machine.image,
                  "project": machine.project, "branch": machine.branch,
                  "workspace": machine.workspace})
        return
    what = f"branch {machine.branch} of {machine.project}" if machine.project else (
        machine.image or "the default image")
    out.line(f"{'Created' if new else 'Started'} machine {machine.name} ({what}); "
             f"'podspawn shell {machine.name}' attaches")


@click.command("shell")
@click.argument("name")
@click.pass_obj
def shell(app: App, name: str) -> int:
    """Attach a shell to machine NAME, starting it (or making a plain one) if needed."""
    from podspawn.cli.local import hand_off
    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import shell as attach
    from podspawn.services.local.sessions import leave

    ctx = open_context()
    attached = attach(ctx, name, progress=app.output.info)
    try:
        return hand_off(attached.row, ())
    finally:
        leave(ctx, attached)


@click.command("run")
@click.argument("name")
@_IMAGE
@_PROJECT
@_BRANCH
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(app: App, name: str, image: str, project: str, branch: str,
        command: tuple[str, ...]) -> int:
    """A throw-away machine NAME: run COMMAND (after --) or a shell, then remove it.

    Exits with COMMAND's status.
    """
    from podspawn.cli.local import hand_off
    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import check_request, finish_run
    from podspawn.services.local.machines import run as start

    check_request(name, image=image, project=project, branch=branch)
    ctx = open_context()
    thrown = start(ctx, name, image=image, project=project, branch=branch,
                   progress=app.output.info)
    try:
        return hand_off(thrown.attached.row, command)
    finally:
        finish_run(ctx, thrown)


@click.command("rm")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also when a shell is attached to it.")
@click.pass_obj
def rm(app: App, name: str, force: bool) -> None:
    """Remove machine NAME: its container, services and workspace."""
    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import rm as remove

    machine = remove(open_context(), name, force=force)
    if app.json_mode:
        app.output.data({"removed": machine.name, "workspace": machine.workspace})
        return
    app.output.line(f"Removed machine {machine.name}")


@click.command("switch-branch")
@click.argument("name")
@click.argument("branch")
@click.pass_obj
def switch_branch(app: App, name: str, branch: str) -> None:
    """Check out BRANCH in machine NAME's workspace (on_create runs again on next start)."""
    from podspawn.services.local.context import open_context
    from podspawn.services.local.machines import switch_branch as switch

    machine = switch(open_context(), name, branch)
    if app.json_mode:
        app.output.data({"name": machine.name, "branch": machine.branch})
        return
    app.output.line(f"Switched {machine.name} to branch {machine.branch}")
