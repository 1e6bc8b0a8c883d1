"""``add-user``, ``remove-user``, ``list-users``."""

from __future__ import annotations

import time

import click

from podspawn.cli.app import App, positive_duration


@click.command("add-user")
@click.argument("name")
@click.option("--key", "keys", multiple=True, metavar="KEY", help="A public key line (repeatable).")
@click.option("--key-file", "key_files", multiple=True, metavar="PATH",
              help="A file of public keys (repeatable).")
@click.option("--github", metavar="HANDLE", help="Import the keys GitHub publishes (one fetch).")
@click.option("--adopt-account", is_flag=True,
              help="Use an existing host account of that name (it becomes podspawn-only).")
@click.option("--ttl", metavar="DURATION",
              help="A disposable user, removed by cleanup after this long (such as 2h).")
@click.option("--mode", type=click.Choice(["grace-period", "destroy-on-disconnect",
                                           "persistent"]),
              help="Session mode for this user (written to the user's override file).")
@click.pass_obj
def add_user(app: App, name: str, keys: tuple[str, ...], key_files: tuple[str, ...],
             github: str | None, adopt_account: bool, ttl: str | None,
             mode: str | None) -> None:
    """Register NAME's SSH keys and create their podspawn login."""
    from podspawn.names import validate_user
    from podspawn.services.users import add_user as add
    from podspawn.services.users import collect_keys

    validate_user(name)
    config, conn = app.admin_context("add-user", echo=False)
    new_keys = collect_keys(keys=keys, key_files=key_files, github=github,
                            github_url=config.auth.github_url)
    ttl_seconds = None if ttl is None else positive_duration("--ttl", ttl, "30m or 2h")
    result = add(config=config, conn=conn, name=name, new_keys=new_keys, adopt=adopt_account,
                 ttl_seconds=ttl_seconds)
    if mode:
        from podspawn.services.overrides import set_mode

        set_mode(config, name, mode)
    if app.json_mode:
        app.output.data({"user": result.name, "keys_added": result.added,
                         "keys_total": result.total, "account_created": result.account_created,
                         "mode": mode})
        return
    app.output.line(f"added {result.added} key(s) for {result.name}")


@click.command("remove-user")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also destroy the user's running sessions.")
@click.option("--purge", is_flag=True, help="Also delete the user's persistent home.")
@click.pass_obj
def remove_user(app: App, name: str, force: bool, purge: bool) -> None:
    """Revoke NAME: destroy sessions (with --force), delete keys and login."""
    from podspawn.names import validate_user
    from podspawn.services.users import remove_user as remove

    validate_user(name)
    config, conn = app.admin_context("remove-user")
    result = remove(config=config, conn=conn, name=name, force=force, purge=purge)
    if app.json_mode:
        app.output.data({"user": result.name, "sessions_destroyed": result.sessions_destroyed,
                         "kept_home": result.kept_home or None})
        return
    app.output.line(
        f"removed user {result.name} ({result.sessions_destroyed} session(s) destroyed)"
    )
    if result.kept_home:
        app.output.info(f"NOTE: the persistent home {result.kept_home} was kept; "
                        "remove-user --purge deletes it")


@click.command("list-users")
@click.pass_obj
def list_users(app: App) -> None:
    """List registered users with their key and session counts."""
    from podspawn.services.users import list_all

    config, conn = app.admin_context("list-users", echo=False)
    users = list_all(config=config, conn=conn)
    out = app.output
    if app.json_mode:
        out.data([{"name": u.name, "keys": u.keys, "sessions": u.sessions,
                   "expires_at": u.expires_at} for u in users])
        return
    rows = [
        (u.name, str(u.keys), str(u.sessions),
         time.strftime("%Y-%m-%d %H:%M", time.localtime(u.expires_at)) if u.expires_at else "-")
        for u in users
    ]
    out.table(("USER", "KEYS", "SESSIONS", "EXPIRES"), rows, empty="No users.")
