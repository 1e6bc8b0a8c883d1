"""Entry point. Sends the login verbs to ``podspawn.login`` before click is ever imported.

Errors are handled here and only here: a ``PodspawnError`` prints ``podspawn: <message>`` and
exits 1 (2 for usage errors); anything else prints a one-line internal-error notice, writes
the traceback to the log, and shows it only with ``--debug`` or ``PODSPAWN_DEBUG=1``. On the
login verbs stderr reaches a remote user, so there the notice names no host path.
"""

from __future__ import annotations

import os
import sys

from podspawn import log
from podspawn.errors import PodspawnError

LOGIN_VERBS = ("auth-keys", "spawn")


def _split_globals(argv: list[str]) -> tuple[str | None, bool, list[str]]:
    """Leading ``--config PATH`` and ``--debug``, then the rest (login verbs only)."""
    config: str | None = None
    debug = False
    rest = list(argv)
    while rest:
        head = rest[0]
        if head == "--config" and len(rest) > 1:
            config, rest = rest[1], rest[2:]
        elif head.startswith("--config="):
            config, rest = head.split("=", 1)[1], rest[1:]
        elif head == "--debug":
            debug, rest = True, rest[1:]
        else:
            break
    return config, debug, rest


def _dispatch(args: list[str]) -> int:
    config, _, rest = _split_globals(args)
    if rest and rest[0] == "auth-keys":
        from podspawn.login import auth_keys

        return auth_keys.run(rest[1:], config_path=config, binary=os.path.abspath(sys.argv[0]))
    if rest and rest[0] == "spawn":
        from podspawn.login import spawn

        return spawn.main(rest[1:], config_path=config)
    if rest and rest[0] == "connect" and "--help" not in rest and "-h" not in rest:
        return _connect(rest[1:])
    from podspawn.cli.app import run

    return run(args)


def _connect(args: list[str]) -> int:
    """``connect [-F PATH] USER HOST PORT``, the ProxyCommand of every ``.pod`` login, parsed
    here so that it does not pay for click (about 45 ms a connection)."""
    from podspawn.errors import UsageError

    ssh_config = None
    if len(args) >= 2 and args[0] == "-F":
        ssh_config, args = args[1], args[2:]
    elif args and args[0].startswith("-F") and len(args[0]) > 2:
        ssh_config, args = args[0][2:], args[1:]
    if len(args) != 3:
        raise UsageError("usage: podspawn connect [-F SSH_CONFIG] USER HOST PORT")
    from podspawn.client.connect import connect

    return connect(args[0], args[1], args[2], ssh_config=ssh_config)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    remote = bool(set(args) & set(LOGIN_VERBS))
    debug = "--debug" in args or os.environ.get("PODSPAWN_DEBUG") == "1"
    try:
        return _dispatch(args)
    except PodspawnError as exc:
        log.stop_echo()  # the message is printed once below, not also as a log line
        log.error(exc.message, detail=exc.detail)
        _say(f"podspawn: {exc.message}", remote)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        import traceback

        trace = traceback.format_exc()
        log.stop_echo()  # the log line carries the traceback: never on the terminal
        log.error(f"internal error {type(exc).__name__}", traceback=trace)
        where = "the administrator's log" if remote else "the podspawn log"
        _say(f"podspawn: internal error ({type(exc).__name__}); details are in {where}", remote)
        if debug and not remote:
            sys.stderr.write(trace)
        return 1


def _say(text: str, remote: bool) -> None:
    try:
        end = "\r\n" if remote and os.isatty(2) else "\n"
        sys.stderr.write(text + end)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
