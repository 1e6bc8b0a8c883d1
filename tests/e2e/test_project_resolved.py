"""Nothing a repository names is fetched or built at login: ``add-project`` and
``update-project`` resolve the Podfile once (a remote ``extends`` included) and store it; a
login uses what they stored, and what is missing is refused with the admin's fix.

The remote base is served by a real HTTP server on 127.0.0.1, which records every request,
so "a login fetched nothing" is observed, not assumed.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.harness import RUN_ID, free_port
from tests.e2e.project_helpers import forget, fresh_user, pname, project_images
from tests.e2e.test_projects import make_repo, project_ssh

BASE_PATH = "/team/bases/main/base.yaml"
BASE_V1 = "base: debian:bookworm\nenv:\n  FROM_BASE: one\n"
BASE_V2 = "base: debian:bookworm\nenv:\n  FROM_BASE: two\n"
CHILD = "extends: github.com/team/bases/base.yaml\nenv:\n  CHILD: here\n"


class BaseServer:
    """An HTTP server for Podfile bases that can go down and come back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.files: dict[str, str] = {}
        self.requests: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, files: dict[str, str]) -> None:
        self.files = dict(files)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write((body or "not found\n").encode())

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@pytest.fixture
def bases(server) -> Iterator[BaseServer]:
    served = BaseServer()
    server.set_config({"images": {"podfiles_url": served.url}})
    try:
        yield served
    finally:
        served.stop()
        server.set_config(None)


def containers(label: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label={label}"],
                          capture_output=True, text=True, check=True).stdout.split()


def stored(server, project: str) -> list[Path]:
    return sorted((server.root / "state" / "projects").glob(f"{project}.podfile-*.json"))


def login_sees(server, user: str, project: str) -> str:
    result = project_ssh(server, user, 'echo "$FROM_BASE $CHILD"', project=project)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def one_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("podspawn:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_logins_keep_the_resolved_base_until_update_project(server, bases, tmp_path):
    project = pname("remote")
    forget(server, project)
    repo = make_repo(tmp_path / "remote", CHILD)
    users = []
    bases.start({BASE_PATH: BASE_V1})
    try:
        added = server.podspawn("add-project", project, "--repo", str(repo))
        assert added.returncode == 0, added.stderr
        assert bases.requests == [BASE_PATH]
        [first_file] = stored(server, project)
        assert first_file.stat().st_mode & 0o077 == 0

        # the base's server goes away: a new user's login (a new container) still works
        bases.stop()
        users.append(fresh_user(server, "remotea"))
        assert login_sees(server, users[-1], project) == "one here"

        # it comes back with a changed base: logins still get the one add-project resolved,
        # and never ask the server
        bases.start({BASE_PATH: BASE_V2})
        users.append(fresh_user(server, "remoteb"))
        assert login_sees(server, users[-1], project) == "one here"
        assert bases.requests == [BASE_PATH]

        # update-project needs the base: with the server down it fails in one sentence, and
        # the project keeps its image, its stored Podfile and its config
        bases.stop()
        before = server.config.read_text()
        failed = server.podspawn("update-project", project)
        assert failed.returncode != 0
        message = one_error(failed)
        assert f"could not fetch {bases.url}{BASE_PATH}" in message, message
        assert server.config.read_text() == before
        assert stored(server, project) == [first_file]
        users.append(fresh_user(server, "remotec"))
        assert login_sees(server, users[-1], project) == "one here"

        # the server is back and changed: update-project picks the change up
        bases.start({BASE_PATH: BASE_V2})
        updated = server.podspawn("update-project", project)
        assert updated.returncode == 0, updated.stderr
        assert "image rebuilt" in updated.stdout
        assert bases.requests == [BASE_PATH, BASE_PATH]
        assert first_file in stored(server, project)  # kept for logins that read the old config
        users.append(fresh_user(server, "remoted"))
        assert login_sees(server, users[-1], project) == "two here"
        assert bases.requests == [BASE_PATH, BASE_PATH]
    finally:
        for user in users:
            server.podspawn("remove-user", user, "--force")
        forget(server, project)
    assert stored(server, project) == []


def test_a_deleted_project_image_refuses_the_login_until_update_project(server, tmp_path):
    project = pname("noimage")
    forget(server, project)
    repo = make_repo(tmp_path / "noimage", "base: debian:bookworm\nenv:\n  FROM_BASE: local\n")
    added = server.podspawn("add-project", project, "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    user = fresh_user(server, "imageless")
    try:
        [tag] = project_images(project)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=True)
        refused = project_ssh(server, user, "true", project=project)
        assert refused.returncode != 0
        err = refused.stderr.decode()
        assert (f"the environment image of project {project} is missing on this server; an "
                f"administrator must run: podspawn update-project {project}") in err
        assert "Building environment" not in err  # nothing was built at login
        assert project_images(project) == []
        assert containers(f"podspawn-user={user}") == []
        # the control: the fix the sentence names works
        fixed = server.podspawn("update-project", project)
        assert fixed.returncode == 0, fixed.stderr
        assert "image rebuilt" in fixed.stdout
        assert login_sees(server, user, project) == "local"
    finally:
        server.podspawn("remove-user", user, "--force")
        forget(server, project)


def test_a_missing_service_image_refuses_the_login_and_is_never_pulled(server, tmp_path):
    project = pname("svcimage")
    image = f"podspawn-e2e/side-{RUN_ID or 'x'}:1"
    subprocess.run(["docker", "tag", "debian:bookworm", image], check=True)
    forget(server, project)
    podfile = ("base: debian:bookworm\nservices:\n  - name: side\n"
               f"    image: {image}\n    command: [sleep, infinity]\n")
    repo = make_repo(tmp_path / "svcimage", podfile)
    added = server.podspawn("add-project", project, "--repo", str(repo))
    assert added.returncode == 0, added.stderr
    user = fresh_user(server, "sideless")
    try:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=True)
        refused = project_ssh(server, user, "true", project=project)
        assert refused.returncode != 0
        assert (f"the image {image} of service side of project {project} is missing on this "
                f"server; an administrator must run: podspawn update-project {project}"
                ) in refused.stderr.decode()
        assert containers(f"podspawn-user={user}") == []
        # update-project tries to pull it (no registry here) and says what to do
        failed = server.podspawn("update-project", project)
        assert failed.returncode != 0
        assert f"the image {image} of service side is not on this server and cannot be " \
            "pulled" in one_error(failed)
        # the control: with the image back, the same login works
        subprocess.run(["docker", "tag", "debian:bookworm", image], check=True)
        ok = project_ssh(server, user, "getent hosts side", project=project)
        assert ok.returncode == 0, ok.stderr.decode()
    finally:
        server.podspawn("remove-user", user, "--force")
        forget(server, project)
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def test_a_project_of_the_previous_release_keeps_working(server, bases, tmp_path):
    """Registered before podspawn stored resolved Podfiles: no file beside the checkout."""
    local, remote = pname("oldlocal"), pname("oldremote")
    bases.start({BASE_PATH: BASE_V1})
    users = []
    try:
        for project, podfile in ((local, "base: debian:bookworm\nenv:\n  FROM_BASE: old\n"),
                                 (remote, CHILD)):
            forget(server, project)
            repo = make_repo(tmp_path / project, podfile)
            added = server.podspawn("add-project", project, "--repo", str(repo))
            assert added.returncode == 0, added.stderr
            for path in stored(server, project):  # as the previous release left it
                path.unlink()
        fetched = list(bases.requests)

        # a local Podfile is resolved from the checkout at the first login, and stored
        users.append(fresh_user(server, "legacya"))
        assert login_sees(server, users[-1], local) == "old"
        assert len(stored(server, local)) == 1

        # a remote base is never fetched at login: refused with the fix, the server untouched
        users.append(fresh_user(server, "legacyb"))
        refused = project_ssh(server, users[-1], "true", project=remote)
        assert refused.returncode != 0
        assert (f"project {remote} was registered by an earlier podspawn and its Podfile "
                "extends a remote base, which a login never fetches; an administrator must "
                f"run: podspawn update-project {remote}") in refused.stderr.decode()
        assert bases.requests == fetched
        assert stored(server, remote) == []

        # the control: after update-project, the same user's login works
        updated = server.podspawn("update-project", remote)
        assert updated.returncode == 0, updated.stderr
        assert len(stored(server, remote)) == 1
        assert login_sees(server, users[-1], remote) == "one here"
    finally:
        for user in users:
            server.podspawn("remove-user", user, "--force")
        for project in (local, remote):
            forget(server, project)
