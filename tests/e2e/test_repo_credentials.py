"""A token in a ``--repo`` URL is used for the clone and kept out of everything others read.

The repository is served by ``git http-backend`` behind an HTTP server on 127.0.0.1 that
answers 401 to any request without the right Basic credentials, so a clone that works
proves the token reached git, and a clone without it is refused.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import secrets
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import BIN, RUN_ID, uname

GIT_USER = "ci"


@dataclass
class GitServer:
    port: int
    token: str
    work: Path
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def clean_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/private.git"

    @property
    def token_url(self) -> str:
        return f"http://{GIT_USER}:{self.token}@127.0.0.1:{self.port}/private.git"

    def authorized(self) -> int:
        return sum(1 for _, _, auth in self.requests if auth == self.expected())

    def expected(self) -> str:
        return "Basic " + base64.b64encode(f"{GIT_USER}:{self.token}".encode()).decode()

    def commit(self, name: str, text: str) -> None:
        (self.work / name).write_text(text)
        git = ["git", "-C", str(self.work), "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-qm", f"add {name}"], check=True)
        subprocess.run([*git, "push", "-q", "origin", "HEAD:main"], check=True)


def _handler(root: Path, server: GitServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            auth = self.headers.get("Authorization", "")
            server.requests.append((self.command, self.path, auth))
            if auth != server.expected():
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root),
                   "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
                   "REQUEST_METHOD": self.command, "REMOTE_USER": GIT_USER,
                   "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": self.headers.get("Content-Type", "")}
            if self.headers.get("Content-Encoding"):
                env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
            if self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
            out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                 capture_output=True, check=False).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode().splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                else:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture(scope="module")
def git_server(tmp_path_factory) -> Iterator[GitServer]:
    base = tmp_path_factory.mktemp("gitsrv")
    work = base / "work"
    work.mkdir()
    (work / "podfile.yaml").write_text("base: debian:bookworm\n")
    (work / "README.md").write_text("private\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(base / "private.git")],
                   check=True)
    subprocess.run([*git, "remote", "add", "origin", str(base / "private.git")], check=True)
    info = GitServer(port=0, token="tok" + secrets.token_hex(16), work=work)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(base, info))
    info.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield info
    finally:
        httpd.shutdown()
        httpd.server_close()


def _project(base: str) -> str:
    return f"{base}{RUN_ID}"


def _forget_images(project: str) -> None:
    """Remove an earlier run's image of ``project``: the tag only hashes the Podfile, so it
    would be reused although it holds another server's URL."""
    old = subprocess.run(["docker", "images", "-q", "--filter",
                          f"label=podspawn-project={project}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if old:
        subprocess.run(["docker", "rmi", "-f", *old], capture_output=True, check=False)


def _json_projects(server) -> dict[str, dict]:
    listed = server.podspawn("--json", "list-projects")
    assert listed.returncode == 0, listed.stderr
    return {p["name"]: p for p in json.loads(listed.stdout)}


def _image_contains(image: str, needle: str) -> bool:
    """Whether any byte of ``docker save IMAGE`` (every layer, config and history) holds it."""
    data = needle.encode()
    tail, found = b"", False
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            if data in tail + chunk:
                found = True
            tail = chunk[-len(data):]
    assert proc.returncode == 0
    return found


def _readable_by_nobody(paths: list[str], needle: str) -> list[str]:
    result = subprocess.run(["runuser", "-u", "nobody", "--", "grep", "-rlsF", needle, *paths],
                            capture_output=True, text=True, check=False)
    return result.stdout.split()


def _root_finds(paths: list[str], needle: str) -> list[str]:
    result = subprocess.run(["grep", "-rlsF", needle, *paths], capture_output=True, text=True,
                            check=False)
    return result.stdout.split()


class _ArgvWatch:
    """Samples every process's argv while a command runs, as any local account could."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode()
        self.seen: dict[int, bytes] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    argv = Path(f"/proc/{entry}/cmdline").read_bytes()
                    if self.needle in argv:
                        self.seen[int(entry)] = argv
            time.sleep(0.01)

    def __enter__(self) -> _ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def registered(server, git_server) -> Iterator[tuple[str, subprocess.CompletedProcess[str]]]:
    name = _project("cred")
    server.podspawn("remove-project", name)
    _forget_images(name)
    argv = ["add-project", name, "--repo", git_server.token_url]
    with _ArgvWatch(git_server.token) as watch:
        proc = subprocess.Popen([str(BIN), "--config", str(server.config), *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=1800)
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    assert result.returncode == 0, out + err
    # the admin's own command line holds the token (what the sampler is able to see);
    # nothing podspawn started does
    assert proc.pid in watch.seen, "the argv sampler saw nothing: it proves nothing"
    assert set(watch.seen) == {proc.pid}, watch.seen
    yield name, result
    server.podspawn("remove-project", name)


def test_without_the_token_the_server_refuses_the_clone(server, git_server):
    name = _project("credless")
    before = len(git_server.requests)
    result = server.podspawn("add-project", name, "--repo", git_server.clean_url)
    text = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, text
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert f"cloning {git_server.clean_url} failed" in text, text
    asked = git_server.requests[before:]
    assert asked and all(auth == "" for _, _, auth in asked), asked
    assert name not in _json_projects(server)


def test_the_token_reaches_git_and_nothing_else(server, git_server, registered):
    name, result = registered
    token = git_server.token
    assert git_server.authorized() > 0  # the clone really authenticated
    assert token not in result.stdout + result.stderr

    config_text = server.config.read_text()
    assert token not in config_text
    entry = yaml.safe_load(config_text)["projects"][name]
    assert entry["repo"] == git_server.clean_url

    listed = server.podspawn("list-projects")
    assert listed.returncode == 0 and name in listed.stdout
    assert token not in listed.stdout + listed.stderr
    as_json = _json_projects(server)
    assert as_json[name]["repo"] == git_server.clean_url
    assert token not in json.dumps(as_json)

    log_text = (server.root / "log" / "podspawn.log").read_text()
    assert f"project registered project={name}" in log_text
    assert token not in log_text

    stored = server.root / "state" / "credentials" / name
    st = stored.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, 0)
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert token in stored.read_text()
    # of everything under the installation root, root finds the token in the store only,
    # and another account finds it nowhere
    root = [str(server.root)]
    assert _root_finds(root, token) == [str(stored)]
    assert _readable_by_nobody(root, token) == []
    assert _readable_by_nobody(root, git_server.clean_url)  # control: nobody can grep there

    image = as_json[name]["image_tag"]
    assert _image_contains(image, git_server.clean_url)  # control: the checkout is in it
    assert not _image_contains(image, token)


def test_a_workspace_in_a_real_session_has_the_clean_url_only(server, git_server, registered):
    name, _ = registered
    user = uname("creduser")
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    try:
        # the token comes on stdin, so no argv or command text in the container has it; it
        # is planted in one file, which grep must find (the control) and nothing else
        script = (f"cat /workspace/{name}/.git/config; IFS= read -r t; "
                  "printf '%s\\n' \"$t\" > /tmp/planted; echo grep-start; "
                  "grep -rlF -f /tmp/planted / --exclude-dir=proc --exclude-dir=sys "
                  "2>/dev/null; echo grep-end")
        result = server.ssh(user, script, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={name}"),
                            input=git_server.token.encode() + b"\n", timeout=900)
        out = result.stdout.decode()
        assert result.returncode == 0, result.stderr.decode() + out
        assert f"url = {git_server.clean_url}" in out
        config, _, rest = out.partition("grep-start\n")
        assert git_server.token not in config
        assert rest.split() == ["/tmp/planted", "grep-end"], out
    finally:
        server.podspawn("remove-user", user, "--force")


def test_update_project_uses_the_stored_credentials(server, git_server, registered):
    name, _ = registered
    git_server.commit("second.txt", "fetched with the stored token\n")
    before = git_server.authorized()
    result = server.podspawn("update-project", name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git_server.authorized() > before
    checkout = server.root / "state" / "projects" / name
    assert (checkout / "second.txt").read_text() == "fetched with the stored token\n"
    assert git_server.token not in (checkout / ".git" / "config").read_text()
    assert git_server.token not in server.config.read_text()


def test_a_project_registered_with_the_token_in_the_config_is_migrated(server, git_server):
    name = _project("credold")
    _forget_images(name)
    token = git_server.token
    data = yaml.safe_load(server.config.read_text())
    data.setdefault("projects", {})[name] = {"repo": git_server.token_url, "image_tag": "",
                                             "podfile_hash": ""}
    server.config.write_text(yaml.safe_dump(data, sort_keys=False))
    stored = server.root / "state" / "credentials" / name
    try:
        listed = server.podspawn("list-projects")
        assert listed.returncode == 0, listed.stderr
        assert f"podspawn update-project {name}" in listed.stderr
        assert token not in listed.stdout + listed.stderr

        result = server.podspawn("update-project", name)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"moved the credentials of project {name}" in result.stderr
        assert token not in result.stdout + result.stderr
        assert token not in server.config.read_text()
        assert yaml.safe_load(server.config.read_text())["projects"][name]["repo"] == \
            git_server.clean_url
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and token in stored.read_text()
        assert "podspawn update-project" not in server.podspawn("list-projects").stderr
        image = _json_projects(server)[name]["image_tag"]
        assert _image_contains(image, git_server.clean_url)
        assert not _image_contains(image, token)
        again = server.podspawn("update-project", name)  # now from the store
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        removed = server.podspawn("remove-project", name)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert not stored.exists()  # remove-project deletes the stored credentials
