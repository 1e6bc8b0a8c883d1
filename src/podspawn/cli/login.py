"""Help entries for the sshd-facing verbs; ``podspawn.__main__`` runs them before click loads."""

from __future__ import annotations

import click


@click.command("auth-keys", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def auth_keys(args: tuple[str, ...]) -> None:
    """Print USER's keys with the forced spawn command: podspawn auth-keys USER [TYPE KEY]."""
    from podspawn.__main__ import main

    raise SystemExit(main(["auth-keys", *args]))


@click.command("spawn", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def spawn(args: tuple[str, ...]) -> None:
    """Route the SSH session in SSH_ORIGINAL_COMMAND into the user's container."""
    from podspawn.__main__ import main

    raise SystemExit(main(["spawn", *args]))
