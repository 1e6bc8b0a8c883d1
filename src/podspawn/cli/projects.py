"""``add-project``, ``update-project``, ``remove-project``, ``list-projects``, ``init``,
``podfile schema``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App

if TYPE_CHECKING:
    import sqlite3

    from podspawn.runtime.base import Runtime
    from podspawn.services.projects import ProjectInfo


def project_data(info: ProjectInfo) -> dict[str, str]:
    """One project in ``--json`` output: the same keys from every project command."""
    return {"name": info.name, "repo": info.repo, "branch": info.branch,
            "image_tag": info.image_tag, "podfile_hash": info.podfile_hash}


@click.command("add-project")
@click.argument("name")
@click.option("--repo", required=True, metavar="URL",
              help="git URL (https, ssh, file://) or a local directory. Credentials in an "
                   "https URL (https://user:token@host/...) are stored apart, root-only.")
@click.option("--branch", default="", metavar="BRANCH", help="Branch or tag to check out.")
@click.pass_obj
def add_project(app: App, name: str, repo: str, branch: str) -> None:
    """Register project NAME: clone it, build its Podfile's image once.

    To keep a token out of this command's own argv (which other accounts can see in ps
    while it runs), put ``user:token`` in PODSPAWN_REPO_CREDENTIALS instead of the URL.
    """
    from podspawn.names import validate_project
    from podspawn.runtime import get_runtime
    from podspawn.services.projects import add_project as add

    validate_project(name)
    config, _ = app.admin_context("add-project", echo=False)
    out = app.output
    info = add(runtime=get_runtime(config.runtime.backend), config=config,
               config_path=app.resolved_config_path(), name=name, repo=repo, branch=branch,
               progress=out.info,
               credentials=os.environ.get("PODSPAWN_REPO_CREDENTIALS", "").strip())
    if app.json_mode:
        out.data(project_data(info))
        return
    out.line(f"project {info.name} registered, image: {info.image_tag}")


@click.command("update-project")
@click.argument("name")
@click.pass_obj
def update_project(app: App, name: str) -> None:
    """Fetch NAME's repository again; rebuild its image if the Podfile changed."""
    from podspawn.runtime import get_runtime
    from podspawn.services.projects import update_project as update

    config, conn = app.admin_context("update-project", echo=False)
    runtime = get_runtime(config.runtime.backend)
    info, rebuilt = update(runtime=runtime, config=config,
                           config_path=app.resolved_config_path(), name=name,
                           progress=app.output.info)
    drained = _drain(app, conn, runtime, name)
    if app.json_mode:
        app.output.data({**project_data(info), "rebuilt": rebuilt, "warm_drained": drained})
        return
    state = "rebuilt" if rebuilt else "unchanged"
    app.output.line(f"project {info.name} updated, image {state}: {info.image_tag}")


@click.command("remove-project")
@click.argument("name")
@click.pass_obj
def remove_project(app: App, name: str) -> None:
    """Forget project NAME and delete its checkout (the image stays)."""
    from podspawn.runtime import get_runtime
    from podspawn.services.projects import remove_project as remove

    config, conn = app.admin_context("remove-project", echo=False)
    info = remove(config=config, config_path=app.resolved_config_path(), name=name)
    _drain(app, conn, get_runtime(config.runtime.backend), name)
    if app.json_mode:
        app.output.data(project_data(info))
        return
    app.output.line(f"removed project {info.name}; free its image with: docker rmi "
                    f"{info.image_tag}")


@click.command("list-projects")
@click.pass_obj
def list_projects(app: App) -> None:
    """List registered projects and their images."""
    from podspawn.services.projects import list_projects as listing

    projects = listing(app.config())
    for p in projects:
        if p.legacy_credentials:
            app.output.warn(f"the config holds credentials in project {p.name}'s URL; run "
                            f"'podspawn update-project {p.name}' to move them to a root-only "
                            "file")
    if app.json_mode:
        app.output.data([project_data(p) for p in projects])
        return
    app.output.table(("PROJECT", "REPO", "BRANCH", "IMAGE"),
                     [(p.name, p.repo, p.branch or "-", p.image_tag) for p in projects],
                     empty="No projects.")


@click.command("init")
@click.option("-t", "--template", metavar="NAME",
              help="node, python, go, rust or generic (default: detected).")
@click.option("--from-devcontainer", "from_devcontainer", is_flag=True,
              help="Convert the project's devcontainer.json instead, with comments for what "
                   "has no Podfile equivalent.")
@click.option("--force", is_flag=True, help="Overwrite an existing podfile.yaml.")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.pass_obj
def init(app: App, template: str | None, from_devcontainer: bool, force: bool,
         directory: str) -> None:
    """Write a podfile.yaml for the project in DIRECTORY, from a detected template."""
    from podspawn.errors import Conflict, UsageError
    from podspawn.files import atomic_write

    if from_devcontainer and template:
        raise UsageError("give either --template or --from-devcontainer, not both")
    if from_devcontainer:
        from podspawn.podfile.devcontainer_writer import podfile_from_devcontainer

        source, text = podfile_from_devcontainer(directory)
        name = ""
    else:
        from podspawn.podfile import TEMPLATE_NAMES, detect, template_text

        name = template or detect(directory)
        if name not in TEMPLATE_NAMES:
            raise UsageError(f"unknown template {name!r}; use one of "
                             f"{', '.join(TEMPLATE_NAMES)}")
        source, text = f"the {name} template", template_text(name)
    target = os.path.join(directory, "podfile.yaml")
    if os.path.exists(target) and not force:
        raise Conflict(f"{target} exists; pass --force to overwrite it")
    atomic_write(target, text.encode())
    if app.json_mode:
        app.output.data({"path": target, "devcontainer": source} if from_devcontainer
                        else {"path": target, "template": name})
        return
    app.output.line(f"wrote {target} from {source}")


@click.group("podfile")
def podfile() -> None:
    """Podfile tools."""


@podfile.command("schema")
def schema() -> None:
    """Print the Podfile JSON Schema (for editors)."""
    from podspawn.podfile import schema_text

    click.echo(schema_text(), nl=False)


def _drain(app: App, conn: sqlite3.Connection, runtime: Runtime, name: str) -> int:
    """Remove the project's warm sessions: they were made from what it was before. The
    next cleanup pass makes new ones (``services.pools``)."""
    from podspawn.services.pools import drain

    drained = drain(config=app.config(), conn=conn, runtime=runtime, project=name)
    if drained and not app.json_mode:
        app.output.info(f"removed {drained} warm session(s) of {name}; the next cleanup pass "
                        "makes new ones")
    return drained
