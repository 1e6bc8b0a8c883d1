"""Tables are never cut: ``list``, ``list-users`` and ``list-projects`` piped and in an
80-column terminal, with values longer than the terminal is wide.

The user's name has a ``-``, so its container is ``podspawn-session.<user>``, and with a
project the table is far wider than 80 columns. One session is live (a connected ssh), one
is in its grace period; both rows must carry every value whole and the tutorial's header.
"""

from __future__ import annotations

import json
import re
import subprocess

import pexpect
import pytest

from tests.e2e.harness import BIN, wait_for
from tests.e2e.project_helpers import forget, pname
from tests.e2e.test_projects import make_repo

TIMEOUT = 900
#: The tutorial's ``list`` header, in order (a later column may be added between them).
TUTORIAL_HEADER = ("USER", "PROJECT", "CONTAINER", "STATUS", "CONNS", "AGE", "LIFETIME LEFT")
ELLIPSES = ("\u2026", "...")


def rows(server) -> list[dict]:
    result = server.podspawn("--json", "list")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def wide(server, tmp_path_factory):
    """A project with a long name and repo path, a live session in it and a default session
    in its grace period, for one user with a long name."""
    user = server.fresh_user("wide-listing-user-0123456")
    project = pname("a-rather-long-project-name-01")
    repo = make_repo(tmp_path_factory.mktemp("repo") / ("r" * 60), "base: debian:bookworm\n")
    forget(server, project)
    added = server.podspawn("add-project", project, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    # the default session: one login, then it waits in its grace period
    first = server.ssh(user, "true", timeout=TIMEOUT)
    assert first.returncode == 0, first.stderr.decode()
    live = subprocess.Popen(
        [*server.ssh_argv(user, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={project}")),
         "sleep 600"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        counted = wait_for(lambda: any(r["user"] == user and r["project"] == project
                                       and r["connections"] == 1 and r["status"] == "running"
                                       for r in rows(server)), timeout=TIMEOUT)
        if not counted:
            live.kill()
            pytest.fail(f"the project session never counted: {live.communicate()[1]!r}")
        mine = {r["project"]: r for r in rows(server) if r["user"] == user}
        assert mine[""]["status"] == "grace_period"
        assert mine[project]["status"] == "running"
        yield {"user": user, "project": project, "repo": str(repo), "sessions": mine}
    finally:
        live.kill()
        live.communicate()
        server.podspawn("remove-user", user, "--force")
        forget(server, project)


def assert_header(line: str, columns) -> None:
    """``columns`` appear in ``line`` in order, each whole, and nothing else is cut."""
    at = 0
    for column in columns:
        found = re.compile(rf"(?:^|\s){re.escape(column)}(?:\s|$)").search(line, at)
        assert found, f"{column!r} missing or cut in {line!r}"
        at = found.end() - 1


def assert_whole(text: str, values) -> None:
    for value in values:
        assert re.search(rf"(?:^|\s){re.escape(value)}(?:\s|$)", text, re.M), \
            f"{value!r} is not whole in:\n{text}"
    assert not any(mark in text for mark in ELLIPSES), text


def list_values(wide) -> list[str]:
    user, project = wide["user"], wide["project"]
    values = [user, project, "(default)", "grace_period", "running"]
    for row in wide["sessions"].values():
        values.append(row["container"])
    return values


def piped(server, *args: str) -> str:
    result = subprocess.run([str(BIN), "--config", str(server.config), *args],
                            capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_list_piped_shows_the_header_and_every_value_whole(server, wide):
    text = piped(server, "list")
    header, *body = text.splitlines()
    assert_header(header, TUTORIAL_HEADER)
    assert_whole(text, list_values(wide))
    mine = [line for line in body if line.split()[0] == wide["user"]]
    assert len(mine) == 2
    assert max(len(line) for line in mine) > 80  # wider than a terminal: nothing was cut
    (live,) = [line for line in mine if " running " in line]
    assert re.search(r"\srunning\s+1\s", live), live  # CONNS of the live session


def test_list_in_an_80_column_terminal_shows_every_value_whole(server, wide):
    child = pexpect.spawn(str(BIN), ["--config", str(server.config), "list"],
                          dimensions=(24, 80), timeout=60, encoding="utf-8",
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm"})
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    text = child.before.replace("\r\n", "\n")
    header = text.splitlines()[0]
    assert_header(header, TUTORIAL_HEADER)
    assert_whole(text, list_values(wide))
    assert max(len(line) for line in text.splitlines()) > 80


def test_list_users_piped_shows_whole_names(server, wide):
    text = piped(server, "list-users")
    assert_header(text.splitlines()[0], ("USER", "KEYS", "SESSIONS", "EXPIRES"))
    assert_whole(text, [wide["user"]])
    (line,) = [ln for ln in text.splitlines() if ln.split()[0] == wide["user"]]
    assert line.split()[1:] == ["1", "2", "-"]


def test_list_projects_piped_shows_whole_names_and_repos(server, wide):
    text = piped(server, "list-projects")
    assert_header(text.splitlines()[0], ("PROJECT", "REPO", "BRANCH", "IMAGE"))
    assert_whole(text, [wide["project"], wide["repo"]])
    (line,) = [ln for ln in text.splitlines() if ln.split()[0] == wide["project"]]
    assert len(line) > 80
