"""``podspawn logs [USER[@PROJECT]]``: the operator and audit logs of a user or a session."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click

from podspawn.cli.app import App, positive_duration

if TYPE_CHECKING:
    from podspawn.services.logs import Entry

#: How often ``-f`` looks for new lines (seconds).
FOLLOW_INTERVAL = 0.5


@click.command("logs")
@click.argument("target", required=False, metavar="[USER[@PROJECT]]")
@click.option("--since", metavar="DURATION", help="Only entries this recent (such as 1h).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new entries as they come.")
@click.pass_obj
def logs(app: App, target: str | None, since: str | None, follow: bool) -> None:
    """Show the log and audit entries of USER (or of USER@PROJECT), oldest first."""
    from podspawn.names import validate_project, validate_user
    from podspawn.services.logs import Follower, Query, read_merged
    from podspawn.services.privileges import require_root

    user = project = None
    if target is not None:
        user, at, rest = target.partition("@")
        validate_user(user)
        project = (validate_project(rest) if rest else "") if at else None
    cutoff = None if since is None else time.time() - positive_duration("--since", since, "1h")
    require_root("logs")
    config = app.config()
    sources = [(config.log_file, "log")]
    if config.log.audit_log:
        sources.append((config.log.audit_log, "audit"))
    query = Query(user=user, project=project, since=cutoff)
    followers = [Follower(path, source) for path, source in sources] if follow else []
    for entry in read_merged(sources, query):
        _show(app, entry)
    while followers:
        batch = [e for f in followers for e in f.poll(query)]
        for entry in sorted(batch, key=lambda e: e.epoch):
            _show(app, entry)
        time.sleep(FOLLOW_INTERVAL)


def _show(app: App, entry: Entry) -> None:
    text = (json.dumps(entry_data(entry), sort_keys=True, default=str) if app.json_mode
            else render(entry))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def entry_data(entry: Entry) -> dict[str, object]:
    return {"time": entry.time, "source": entry.source, "level": entry.level,
            "role": entry.role, "pid": entry.pid, "message": entry.message,
            "fields": entry.fields}


def render(entry: Entry) -> str:
    """One line, in the operator log's own format and quoting, whatever the entry holds."""
    from podspawn import log

    tag = "[audit]" if entry.source == "audit" else f"[{entry.role}:{entry.pid}]"
    head = f"{entry.time} {tag} {entry.level or 'AUDIT'} {log.message_text(entry.message)}"
    extra = " ".join(f"{log.key_text(k)}={log.value_text(_plain(v))}"
                     for k, v in entry.fields.items())
    return head + (f" {extra}" if extra else "")


def _plain(value: object) -> object:
    """Audit values as JSON spells them (``true``, ``3``), strings as they are."""
    return value if isinstance(value, str) else json.dumps(value, default=str)
