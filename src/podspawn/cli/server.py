"""``podspawn server-setup``."""

from __future__ import annotations

import os
import shutil
import sys

import click

from podspawn.cli.app import App
from podspawn.errors import SetupError


def own_binary() -> str:
    """The podspawn executable that sshd and sudo will run (this one)."""
    candidate = os.path.abspath(sys.argv[0])
    if os.path.basename(candidate) == "podspawn" and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("podspawn")
    if found:
        return os.path.abspath(found)
    raise SetupError("cannot find the podspawn executable; install podspawn with install.sh")


@click.command("server-setup")
@click.option("--sshd-config", default="/etc/ssh/sshd_config", show_default=True,
              metavar="PATH", help="The sshd_config to edit.")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@click.pass_obj
def server_setup(app: App, sshd_config: str, dry_run: bool) -> None:
    """Wire podspawn into sshd: validated, backed up, reloaded (never restarted)."""
    from podspawn import audit, log
    from podspawn.services.server_setup import server_setup as run_setup

    config = app.config()
    log.configure(config.log_file, role="setup")
    audit.configure(config.log.audit_log)
    report = run_setup(
        config=config,
        config_path=app.resolved_config_path(),
        binary=own_binary(),
        sshd_config=sshd_config,
        dry_run=dry_run,
    )
    out = app.output
    if app.json_mode:
        out.data({"sshd_config": sshd_config, "changed": report.changed, "dry_run": dry_run,
                  "lines": report.lines})
        return
    for line in report.lines:
        out.line(line)
