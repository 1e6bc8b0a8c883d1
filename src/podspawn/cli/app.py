"""The root command group: global options, lazily loaded subcommands grouped by role."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import click

from podspawn import __version__

#: name -> (section, "module:attribute", one-line help). Modules load only when used.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "server-setup": ("Server administration", "podspawn.cli.server:server_setup",
                     "Wire podspawn into this host's sshd (idempotent, backed up)."),
    "add-user": ("Server administration", "podspawn.cli.users:add_user",
                 "Register a user's SSH keys and create their login."),
    "remove-user": ("Server administration", "podspawn.cli.users:remove_user",
                    "Revoke a user: sessions, keys and login."),
    "list-users": ("Server administration", "podspawn.cli.users:list_users",
                   "List registered users."),
    "setup": ("Client", "podspawn.cli.client:setup",
              "Add the Host *.pod block to ~/.ssh/config (idempotent)."),
    "connect": ("Client", "podspawn.cli.client:connect",
                "ProxyCommand for *.pod names (written by setup)."),
    "config": ("Client", "podspawn.cli.client:config",
               "Show the client config; `config set KEY VALUE` edits it."),
    "servers": ("Client", "podspawn.cli.client:servers",
                "List configured servers and whether they answer."),
    "ping": ("Client", "podspawn.cli.client:ping",
             "Time DNS, TCP, SSH and a podspawn answer for a server."),
    "ssh": ("Client", "podspawn.cli.client:ssh",
            "SSH to USER@NAME.pod, with or without setup."),
    "open": ("Client", "podspawn.cli.client:open_editor",
             "Open USER@NAME.pod in VS Code or Cursor."),
    "list": ("Server administration", "podspawn.cli.admin:list_sessions",
             "Show sessions: who is connected, age, lifetime left."),
    "status": ("Server administration", "podspawn.cli.status:status",
               "Summarize sessions, containers, users and pools (--prometheus for metrics)."),
    "stop": ("Server administration", "podspawn.cli.admin:stop",
             "End one session now (USER or USER@PROJECT)."),
    "cleanup": ("Server administration", "podspawn.cli.admin:cleanup",
                "Expire grace periods and lifetimes, remove orphans (--daemon to loop)."),
    "firewall": ("Server administration", "podspawn.cli.firewall:firewall",
                 "Keep containers off the host: apply, status or remove the packet filter."),
    "add-project": ("Server administration", "podspawn.cli.projects:add_project",
                    "Register a project: clone it and build its Podfile's image."),
    "update-project": ("Server administration", "podspawn.cli.projects:update_project",
                       "Fetch a project again; rebuild when its Podfile changed."),
    "remove-project": ("Server administration", "podspawn.cli.projects:remove_project",
                       "Forget a project and delete its checkout."),
    "list-projects": ("Server administration", "podspawn.cli.projects:list_projects",
                      "List registered projects."),
    "init": ("Local", "podspawn.cli.projects:init",
             "Write a podfile.yaml for this directory from a template."),
    "podfile": ("Local", "podspawn.cli.projects:podfile", "Podfile tools (schema)."),
    "dev": ("Local", "podspawn.cli.local:dev",
            "Start or re-attach to this directory's environment (Podfile) on your Docker."),
    "down": ("Local", "podspawn.cli.local:down",
             "End this directory's local session (--clean: and its volumes)."),
    "prebuild": ("Local", "podspawn.cli.local:prebuild",
                 "Build this directory's image and print its tag."),
    "create": ("Local", "podspawn.cli.machines:create",
               "Make a named machine (--image, or --project REPO [--branch B]) and start it."),
    "shell": ("Local", "podspawn.cli.machines:shell",
              "Attach a shell to a named machine, starting it if needed."),
    "run": ("Local", "podspawn.cli.machines:run",
            "Throw-away machine: run a command (or a shell), then remove it."),
    "rm": ("Local", "podspawn.cli.machines:rm", "Remove a named machine and its workspace."),
    "switch-branch": ("Local", "podspawn.cli.machines:switch_branch",
                      "Check out another branch in a machine's workspace."),
    "doctor": ("Server administration", "podspawn.cli.ops:doctor",
               "Check the server: Docker, sshd, sudo, modes, state, images, disk."),
    "verify-image": ("Server administration", "podspawn.cli.ops:verify_image",
                     "Check that an image can serve sessions; names missing packages."),
    "logs": ("Server administration", "podspawn.cli.logs:logs",
             "Show a user's or session's log and audit entries (-f follows)."),
    "images": ("Server administration", "podspawn.cli.images:images",
               "Build and inspect base images (debootstrap for air-gapped servers)."),
    "auth-keys": ("Called by sshd", "podspawn.cli.login:auth_keys",
                  "Print a user's keys for sshd (AuthorizedKeysCommand)."),
    "spawn": ("Called by sshd", "podspawn.cli.login:spawn",
              "Route an SSH session into the user's container (forced command)."),
    "version": ("Other", "podspawn.cli.info:version", "Print the podspawn version."),
}
SECTIONS = ("Server administration", "Client", "Local", "Called by sshd", "Other")


@dataclass
class App:
    config_path: str | None
    json_mode: bool
    quiet: bool
    debug: bool

    @property
    def output(self) -> Any:
        from podspawn.cli.output import Output

        return Output(json_mode=self.json_mode, quiet=self.quiet)

    def config(self) -> Any:
        from podspawn.config.loader import load_config

        return load_config(self.config_path)

    def admin_context(self, action: str, *, echo: bool = True) -> tuple[Any, Any]:
        """Config and state database for an admin command run as root, with logs set up.

        ``echo`` mirrors log lines to the admin's terminal, as the Go implementation does.
        """
        from podspawn import audit, log
        from podspawn.services.privileges import require_root
        from podspawn.state.db import open_db

        require_root(action)
        config = self.config()
        log.configure(config.log_file, echo=echo and not self.quiet, role="admin")
        audit.configure(config.log.audit_log)
        return config, open_db(config.state.db_path)

    def resolved_config_path(self) -> str:
        from podspawn.paths import config_path

        return config_path(self.config_path)


def positive_duration(option: str, value: str, example: str) -> float:
    """Seconds in ``value``, given to ``option``.

    Raises:
        UsageError: not a duration, or not more than 0 (the message shows ``example``).
    """
    from podspawn.errors import UsageError
    from podspawn.units import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{option} must be more than 0, such as {example}")
    return seconds


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attr = entry[1].partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section in SECTIONS:
            rows = [(name, entry[2]) for name, entry in sorted(COMMANDS.items())
                    if entry[0] == section]
            if rows:
                with formatter.section(section):
                    formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="PODSPAWN_CONFIG", metavar="PATH",
              help="Server config file (default /etc/podspawn/config.yaml).")
@click.option("--json", "json_mode", is_flag=True, help="Machine-readable output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.option("--debug", is_flag=True, envvar="PODSPAWN_DEBUG",
              help="Show tracebacks of internal errors.")
@click.version_option(__version__, "--version", message="podspawn v%(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, json_mode: bool, quiet: bool,
        debug: bool) -> None:
    """podspawn: SSH into a container of your own, on a server running stock OpenSSH."""
    ctx.obj = App(config_path=config_path, json_mode=json_mode, quiet=quiet, debug=debug)
    if debug:
        os.environ["PODSPAWN_DEBUG"] = "1"


def run(args: list[str]) -> int:
    """Run the CLI; podspawn errors propagate to ``podspawn.__main__``."""
    try:
        result = cli.main(args=args, prog_name="podspawn", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0
