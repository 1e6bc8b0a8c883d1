"""Client commands: ``setup``, ``connect``, ``config``, ``servers``, ``ping``, ``ssh``,
``open``.

``connect`` is the ProxyCommand of every ``ssh NAME.pod``: this module imports nothing
heavy at the top, so loading it for ``connect`` costs click and little else.
"""


from __future__ import annotations

import os

import click

from podspawn.cli.app import App, positive_duration

TYPE_CHECKING = False  # not typing's: `connect` loads this module on every .pod login
if TYPE_CHECKING:
    from podspawn.client.ping import PingResult


@click.command("setup")
@click.option("--ssh-config", metavar="PATH",
              help="The ssh config to edit (default ~/.ssh/config).")
@click.pass_obj
def setup(app: App, ssh_config: str | None) -> None:
    """Add podspawn's Host *.pod block to your ssh config (idempotent)."""
    from podspawn.client import paths
    from podspawn.client.ssh_config import install_block, podspawn_command, render_block

    default = paths.default_ssh_config_path()
    target = os.path.abspath(os.path.expanduser(ssh_config)) if ssh_config else default
    block = render_block(command=podspawn_command(), known_hosts=paths.known_hosts_path(),
                         ssh_config=None if target == default else target)
    result = install_block(target, block)
    out = app.output
    shown = paths.display(target)
    if app.json_mode:
        out.data({"path": target, "action": result.action, "backup": result.backup,
                  "notices": result.notices})
        return
    if result.action == "added":
        out.line(f"added *.pod block to {shown}")
    elif result.action == "updated":
        out.line(f"updated *.pod block in {shown}")
    else:
        out.line(f"{shown} already has podspawn's *.pod block; nothing changed")
    if result.backup:
        out.info(f"kept the original as {paths.display(result.backup)}")
    for notice in result.notices:
        out.warn(f"{shown} {notice}")
    if not os.path.exists(paths.client_config_path()):
        out.info("next: podspawn config set servers.default HOST")


@click.command("connect")
@click.option("-F", "ssh_config", metavar="PATH", help="ssh config for the outer connection.")
@click.argument("user")
@click.argument("host")
@click.argument("port")
def connect(ssh_config: str | None, user: str, host: str, port: str) -> int:
    """ProxyCommand for *.pod: `podspawn connect %r %h %p` (written by setup)."""
    from podspawn.client.connect import connect as run

    return run(user, host, port, ssh_config=ssh_config)


@click.group("config", invoke_without_command=True)
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable output.")
@click.pass_context
def config(ctx: click.Context, json_flag: bool) -> None:
    """Show the client config (~/.podspawn/config.yaml); `config set KEY VALUE` edits it."""
    if ctx.invoked_subcommand is not None:
        return
    from podspawn.client import paths
    from podspawn.client.config import NO_CONFIG_HINT, load_client_config

    app: App = ctx.obj
    loaded = load_client_config()
    out = app.output
    if app.json_mode or json_flag:
        out.data(loaded.to_dict())
        return
    shown = paths.display(loaded.source)
    rows = loaded.items()
    if not loaded.found:
        out.line(f"no client config yet ({shown}); {NO_CONFIG_HINT}")
    elif not rows:
        out.line(f"no servers in {shown}; {NO_CONFIG_HINT}")
    for key, value in rows:
        out.line(f"{key} = {value}")


@config.command("set")
@click.argument("key")
@click.argument("value")
@click.pass_obj
def config_set(app: App, key: str, value: str) -> None:
    """Set servers.default or servers.mappings.NAME.pod (HOST or HOST:PORT)."""
    from podspawn.client.config import set_value

    stored, written = set_value(key, value)
    if app.json_mode:
        app.output.data({"key": stored, "value": written})
        return
    app.output.line(f"set {stored} = {written}")


@click.command("servers")
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def servers(app: App, json_flag: bool) -> None:
    """List the configured servers and whether their SSH port answers."""
    from podspawn.client.config import NO_CONFIG_HINT, load_client_config
    from podspawn.client.probe import configured_servers, probe_all

    statuses = probe_all(configured_servers(load_client_config()))
    out = app.output
    if app.json_mode or json_flag:
        out.data([{"name": s.label, "host": s.server.host, "port": s.server.probe_port,
                   "mode": s.server.mode, "reachable": s.reachable,
                   "ms": None if s.millis is None else round(s.millis)} for s in statuses])
        return
    rows = [(s.label, s.server.address, s.server.mode or "-", s.status) for s in statuses]
    out.table(("NAME", "SERVER", "MODE", "STATUS"), rows,
              empty=f"No servers configured; {NO_CONFIG_HINT}")


@click.command("ping")
@click.option("-F", "ssh_config", metavar="PATH", help="ssh config to use, as ssh -F.")
@click.option("--timeout", default="5s", show_default=True, metavar="DURATION",
              help="How long each step may take.")
@click.argument("server", required=False, metavar="[USER@]SERVER")
@click.pass_obj
def ping(app: App, ssh_config: str | None, timeout: str, server: str | None) -> int:
    """Time DNS, TCP, the SSH banner and a podspawn answer for SERVER (or servers.default)."""
    from podspawn.client.config import load_client_config
    from podspawn.client.ping import ping as run

    seconds = positive_duration("--timeout", timeout, "5s")
    result = run(server, config=load_client_config(), ssh_config=ssh_config, timeout=seconds)
    out = app.output
    if app.json_mode:
        out.data({"target": result.target, "host": result.host, "port": result.port,
                  "user": result.user or None, "address": result.address,
                  "resolve_ms": result.resolve_ms, "tcp_ms": result.tcp_ms,
                  "banner": result.banner, "banner_ms": result.banner_ms,
                  "ssh_ms": result.ssh_ms, "version": result.version, "ok": result.ok,
                  "error_kind": result.error_kind, "error": result.error})
    else:
        for line in ping_lines(result):
            out.line(line)
    return 0 if result.ok else 1


def ping_lines(result: PingResult) -> list[str]:
    """A header, then one line per step reached: ``ok`` with its time, or ``FAIL`` and why."""
    who = f" as {result.user}" if result.user else ""
    lines = [f"ping {result.target}: {result.host} port {result.port}{who}"]
    steps = [
        ("resolve", result.address is not None, f"{result.address} ({result.resolve_ms} ms)"),
        ("tcp", result.tcp_ms is not None, f"connected in {result.tcp_ms} ms"),
        ("ssh", result.banner is not None, f"{result.banner} (banner after {result.banner_ms} ms)"),
        ("podspawn", result.version is not None,
         f"podspawn {result.version} (answered in {result.ssh_ms} ms)"),
    ]
    for name, done, detail in steps:
        if not done:
            lines.append(f"{name:<8}  FAIL  {result.error}")
            break
        lines.append(f"{name:<8}  ok    {detail}")
    return lines


@click.command("ssh", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("target")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def ssh(target: str, args: tuple[str, ...]) -> None:
    """SSH to USER@NAME (NAME.pod), without needing `podspawn setup`; ssh options go after
    the target, a command after `--`."""
    from podspawn.client import paths
    from podspawn.client.launch import exec_program, ssh_argv
    from podspawn.client.ssh_config import podspawn_command

    exec_program(ssh_argv(target, args, command=podspawn_command(),
                          known_hosts=paths.known_hosts_path()))


@click.command("open")
@click.option("--cursor", is_flag=True, help="Open in Cursor instead of VS Code.")
@click.argument("target")
@click.argument("path", required=False)
@click.pass_obj
def open_editor(app: App, cursor: bool, target: str, path: str | None) -> None:
    """Open USER@NAME.pod in VS Code (or Cursor) over Remote-SSH, at PATH (/workspace)."""
    from podspawn.client import paths
    from podspawn.client.launch import editor_argv, exec_program
    from podspawn.client.ssh_config import has_block

    editor = "cursor" if cursor else "code"
    argv = editor_argv(editor, target, path)
    out = app.output
    if not has_block(paths.default_ssh_config_path()):
        out.warn(f"~/.ssh/config has no podspawn block, so {editor} cannot reach .pod names "
                 "yet; run: podspawn setup")
    out.info(f"opening {argv[2].removeprefix('ssh-remote+')} in {editor} at {argv[3]}")
    exec_program(argv)
