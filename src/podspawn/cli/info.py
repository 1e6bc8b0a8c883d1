"""``podspawn version``."""

from __future__ import annotations

import os
import subprocess

import click

from podspawn import __version__
from podspawn.cli.app import App


def git_sha() -> str:
    """The short commit of an installed or checked-out podspawn, or ``unknown``."""
    here = os.path.dirname(os.path.abspath(__file__))
    stamp = os.path.join(os.path.dirname(here), "_build_commit.txt")
    try:
        with open(stamp, encoding="utf-8") as fh:
            value = fh.read().strip()
            if value:
                return value
    except OSError:
        pass
    try:
        result = subprocess.run(
            ["git", "-C", here, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


@click.command()
@click.pass_obj
def version(app: App) -> None:
    """Print the podspawn version and the commit it was built from."""
    if app.json_mode:
        app.output.data({"version": __version__, "commit": git_sha()})
        return
    click.echo(f"podspawn v{__version__} ({git_sha()})")
