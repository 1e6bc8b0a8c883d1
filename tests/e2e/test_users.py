"""``add-user``, ``list-users`` and ``remove-user`` end to end: every key source gives a working
login, bad input changes nothing, and accounts podspawn did not make are never taken or
deleted (invariants 2 and 5)."""

from __future__ import annotations

import contextlib
import functools
import grp
import http.server
import json
import os
import pwd
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Server, uname
from tests.e2e.harness import ENGINE

SYSTEM_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")


# -- helpers -------------------------------------------------------------------------------

def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60)


def new_key(directory: Path, name: str) -> Path:
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@e2e", "-f",
                    str(key)], check=True)
    return key


def pub(key: Path) -> str:
    return Path(f"{key}.pub").read_text().strip()


def logs_in_as(server: Server, user: str, key: Path) -> bool:
    result = server.ssh(user, "id -un", key=key)
    return result.returncode == 0 and result.stdout.decode().strip() == user


def key_file(user: str) -> Path:
    return ROOT / "keys" / user


def listed_keys(server: Server, user: str) -> int:
    result = server.podspawn("--json", "list-users")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    return int(rows[user]["keys"])


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """The refusal: non-zero, one line, no traceback."""
    text = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, text
    assert text, "refused without saying why"
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


def _regular_names() -> set[str]:
    """Regular (uid/gid 1000-65533) accounts and groups: what other e2e runs sharing this
    machine create and delete while a test runs, so they are compared separately."""
    names = set()
    for path in ("/etc/passwd", "/etc/group"):
        for line in Path(path).read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit() and 1000 <= int(fields[2]) < 65534:
                names.add(fields[0])
    return names


def host_snapshot() -> dict[str, object]:
    """The account databases line for line and byte for byte, and every home directory's
    listing; regular accounts (see ``_regular_names``) are left out, and ``account_lines``
    covers the one a test cares about."""
    regular = _regular_names()
    snap: dict[str, object] = {}
    for path in SYSTEM_FILES:
        if not Path(path).exists():
            continue
        kept = []
        for line in Path(path).read_bytes().splitlines():
            fields = line.split(b":")
            if fields[0].decode() in regular:
                continue
            if path in ("/etc/group", "/etc/gshadow"):
                members = [m for m in fields[-1].split(b",") if m.decode() not in regular]
                fields[-1] = b",".join(members)
            kept.append(b":".join(fields))
        snap[path] = kept
    snap["/root"] = sorted(os.listdir("/root"))
    for home in sorted(Path("/home").iterdir()):
        st = home.lstat()
        if home.name in regular or 1000 <= st.st_uid < 65534:
            continue
        snap[str(home)] = (st.st_mode, st.st_uid, st.st_gid,
                           sorted(os.listdir(home)) if home.is_dir() else None)
    return snap


def account_lines(name: str) -> dict[str, list[bytes]]:
    """Every line of the account databases that names ``name``, as an account or a member."""
    found: dict[str, list[bytes]] = {}
    for path in SYSTEM_FILES:
        if Path(path).exists():
            found[path] = [
                line for line in Path(path).read_bytes().splitlines()
                if line.split(b":")[0] == name.encode()
                or (path in ("/etc/group", "/etc/gshadow")
                    and name.encode() in line.split(b":")[-1].split(b","))
            ]
    return found


@contextlib.contextmanager
def key_server(files: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """An http.server on 127.0.0.1 serving ``files``; yields its URL and the paths asked for."""
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=functools.partial(httpd.serve_forever, 0.1), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requested
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@contextlib.contextmanager
def github_url(server: Server, url: str) -> Iterator[None]:
    """Point auth.github_url at ``url`` for the duration; the session's config is restored."""
    server.set_config({"auth": {"github_url": url}})
    try:
        yield
    finally:
        server.write_config()


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir()
    return directory


# -- key sources --------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["key", "key_file", "github"])
def test_each_key_source_gives_a_working_login(server, keys, source):
    user = uname(f"via{source.replace('_', '')}")
    key = new_key(keys, user)
    if source == "key":
        result = server.podspawn("add-user", user, "--key", pub(key))
    elif source == "key_file":
        result = server.podspawn("add-user", user, "--key-file", f"{key}.pub")
    else:
        handle = f"gh-{user}"
        with key_server({f"{handle}.keys": pub(key) + "\n"}) as (url, requested), \
                github_url(server, url):
            result = server.podspawn("add-user", user, "--github", handle)
        assert requested == [f"/{handle}.keys"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "added 1 key(s)" in result.stdout
    assert logs_in_as(server, user, key)
    assert key_file(user).read_text().split()[:2] == pub(key).split()[:2]
    entry = pwd.getpwnam(user)
    assert entry.pw_gecos == "podspawn user"
    assert "docker" not in run("id", "-nG", user).stdout.split()


def test_github_failures_are_one_clear_line(server, keys):
    user = uname("ghmissing")
    with key_server({}) as (url, _), github_url(server, url):
        message = refused(server.podspawn("add-user", user, "--github", "nobody-here"))
    assert "nobody-here" in message
    assert not key_file(user).exists()
    assert run("id", user).returncode != 0


def test_keys_from_repeated_sources_are_merged_and_deduplicated(server, keys):
    user = uname("merger")
    k1, k2, k3 = (new_key(keys, f"k{n}") for n in (1, 2, 3))
    both = keys / "both.pub"
    both.write_text(f"{pub(k1)}\n# a comment\n\n{pub(k2)}\n{pub(k1)}\n")
    first = server.podspawn("add-user", user, "--key", pub(k1), "--key", pub(k1),
                           "--key-file", str(both), "--key-file", str(both))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "added 2 key(s)" in first.stdout
    assert listed_keys(server, user) == 2

    second = server.podspawn("add-user", user, "--key", pub(k2), "--key", pub(k3),
                            "--key-file", f"{k1}.pub")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "added 1 key(s)" in second.stdout
    assert listed_keys(server, user) == 3
    stored = [line.split()[:2] for line in key_file(user).read_text().splitlines()]
    assert stored == [pub(k).split()[:2] for k in (k1, k2, k3)]

    again = server.podspawn("add-user", user, "--key", pub(k3))
    assert again.returncode == 0
    assert "added 0 key(s)" in again.stdout
    assert listed_keys(server, user) == 3
    for key in (k1, k2, k3):
        assert logs_in_as(server, user, key)


BAD_LINES = {
    "junk": "this is not a key",
    "private": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "options": 'command="x" {valid}',
    "restrict": "restrict {valid}",
    "bad-base64": "ssh-ed25519 AAAA!!notbase64 x@y",
    "wrong-type": "ssh-rsa {blob} x@y",
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_a_bad_key_line_is_refused_and_changes_nothing(server, keys, kind):
    user = uname("badkeys")
    good = new_key(keys, "good")
    if not key_file(user).exists():
        assert server.podspawn("add-user", user, "--key-file", f"{good}.pub").returncode == 0
    stored = key_file(user).read_bytes()
    count = listed_keys(server, user)

    other = new_key(keys, "other")
    line = BAD_LINES[kind].format(valid=pub(other), blob=pub(other).split()[1])
    if kind == "private":
        bad_text = f"{pub(other)}\n\n" + Path(other).read_text()
    else:
        bad_text = f"{pub(other)}\n# comment\n{line}\n"
    bad = keys / "bad.pub"
    bad.write_text(bad_text)
    message = refused(server.podspawn("add-user", user, "--key-file", str(bad)))
    assert "line 3" in message
    assert key_file(user).read_bytes() == stored
    assert listed_keys(server, user) == count

    message = refused(server.podspawn("add-user", user, "--key", pub(other), "--key", line))
    assert "--key #2" in message
    assert key_file(user).read_bytes() == stored
    assert not logs_in_as(server, user, other)


def test_a_bad_key_for_a_new_user_creates_nothing(server, keys):
    user = uname("neverborn")
    bad = keys / "bad.pub"
    bad.write_text('command="/bin/sh" ' + pub(new_key(keys, "k")) + "\n")
    before = host_snapshot()
    message = refused(server.podspawn("add-user", user, "--key-file", str(bad)))
    assert "line 1" in message
    assert run("id", user).returncode != 0
    assert not key_file(user).exists()
    assert host_snapshot() == before


# -- accounts podspawn must not take --------------------------------------------------------

@pytest.mark.parametrize(
    "argv",
    [
        ("add-user", "root"),
        ("add-user", "daemon"),
        ("add-user", "nobody"),
        ("remove-user", "root", "--force"),
        ("remove-user", "daemon", "--force"),
        ("remove-user", "nobody", "--force"),
    ],
)
def test_system_accounts_are_refused_and_untouched(server, keys, argv):
    name = argv[1]
    if argv[0] == "add-user":
        argv = (*argv, "--key", pub(new_key(keys, "k")))
    keys_before = sorted(os.listdir(ROOT / "keys"))
    before = host_snapshot()
    message = refused(server.podspawn(*argv))
    assert name in message
    assert host_snapshot() == before
    assert sorted(os.listdir(ROOT / "keys")) == keys_before
    # and with --adopt-account too
    if argv[0] == "add-user":
        refused(server.podspawn(*argv, "--adopt-account"))
        assert host_snapshot() == before


def test_existing_host_account_is_only_adopted_and_never_deleted(server, keys):
    user = uname("alice")
    created = run("useradd", "--create-home", "--shell", "/bin/bash", "--comment", "Alice",
                  user)
    assert created.returncode == 0, created.stderr
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
        (home / "notes.txt").write_text("mine\n")
        key = new_key(keys, user)
        entry = pwd.getpwnam(user)
        before, own_before = host_snapshot(), account_lines(user)
        assert own_before["/etc/passwd"]

        message = refused(server.podspawn("add-user", user, "--key-file", f"{key}.pub"))
        assert "--adopt-account" in message
        assert (host_snapshot(), account_lines(user)) == (before, own_before)
        assert not key_file(user).exists()
        assert server.ssh(user, "true", key=key).returncode == 255

        refused(server.podspawn("remove-user", user, "--force"))
        assert (host_snapshot(), account_lines(user)) == (before, own_before)

        adopted = server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                  "--adopt-account")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        assert "podspawn" in run("id", "-nG", user).stdout.split()
        assert "docker" not in run("id", "-nG", user).stdout.split()
        result = server.ssh(user, "hostname; id -un", key=key)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.decode().split() == [f"podspawn-{user}", user]

        removed = server.podspawn("remove-user", user, "--force")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        after = pwd.getpwnam(user)
        assert (after.pw_uid, after.pw_gid, after.pw_gecos, after.pw_dir, after.pw_shell) == (
            entry.pw_uid, entry.pw_gid, entry.pw_gecos, entry.pw_dir, entry.pw_shell)
        assert (home / "notes.txt").read_text() == "mine\n"
        assert "podspawn" not in run("id", "-nG", user).stdout.split()
        assert not key_file(user).exists()
        assert server.ssh(user, "true", key=key).returncode == 255
    finally:
        server.podspawn("remove-user", user, "--force")
        run("userdel", "--remove", user)


@contextlib.contextmanager
def host_account(user: str) -> Iterator[None]:
    """A person's own host account (home, bash), deleted at the end."""
    created = run("useradd", "--create-home", "--shell", "/bin/bash", user)
    assert created.returncode == 0, created.stderr
    try:
        yield
    finally:
        run("userdel", "--remove", user)


def refused_adoption(server: Server, user: str, key: Path) -> str:
    """Adoption refused in one sentence, with nothing changed on the host or in podspawn."""
    before, own_before = host_snapshot(), account_lines(user)
    message = refused(server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                      "--adopt-account"))
    assert (host_snapshot(), account_lines(user)) == (before, own_before)
    assert not key_file(user).exists()
    assert "podspawn" not in run("id", "-nG", user).stdout.split()
    assert server.ssh(user, "true", key=key).returncode == 255
    return message


@pytest.mark.parametrize("group", [ENGINE, "sudo", "adm", "staff", "disk", "kvm"])
def test_an_account_in_a_privileged_group_is_not_adopted(server, keys, group):
    user = uname(f"priv{group[:3]}")
    made_group = run("getent", "group", group).returncode != 0
    with host_account(user):
        if made_group:
            assert run("groupadd", "--system", group).returncode == 0
        assert run("usermod", "--append", "--groups", group, user).returncode == 0
        key = new_key(keys, user)
        message = refused_adoption(server, user, key)
        assert f"group {group}" in message, message
        # control: the same account without that group is adopted and logs in
        assert run("gpasswd", "--delete", user, group).returncode == 0
        adopted = server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                  "--adopt-account")
        assert adopted.returncode == 0, adopted.stdout + adopted.stderr
        assert logs_in_as(server, user, key)
        assert server.podspawn("remove-user", user, "--force").returncode == 0
    if made_group:
        run("groupdel", group)


def test_the_primary_group_and_an_engine_socket_group_count(server, keys, tmp_path):
    user = uname("privprim")
    with host_account(user):
        key = new_key(keys, user)
        # the primary group: gid 0
        assert run("usermod", "--gid", "0", user).returncode == 0
        assert "primary group root" in refused_adoption(server, user, key)
        assert run("usermod", "--gid", user, user).returncode == 0
        # a group of any name that may write to the engine's socket (DOCKER_HOST)
        group = uname("engsock")
        assert run("groupadd", group).returncode == 0
        try:
            assert run("usermod", "--append", "--groups", group, user).returncode == 0
            sock_path = tmp_path / "engine.sock"
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(sock_path))
            os.chown(sock_path, 0, grp.getgrnam(group).gr_gid)
            os.chmod(sock_path, 0o660)
            env = {"DOCKER_HOST": f"unix://{sock_path}"}
            message = refused(server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                              "--adopt-account", env=env))
            assert f"group {group}" in message and str(sock_path) in message, message
            assert not key_file(user).exists()
            # control: not group-writable, so the group no longer drives the engine
            os.chmod(sock_path, 0o640)
            adopted = server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                      "--adopt-account", env=env)
            assert adopted.returncode == 0, adopted.stdout + adopted.stderr
            sock.close()
        finally:
            server.podspawn("remove-user", user, "--force")
            run("groupdel", group)


def test_an_account_with_sudo_rights_of_its_own_is_not_adopted(server, keys):
    user = uname("privsudo")
    rule = Path(f"/etc/sudoers.d/zz-e2e-{user}")
    with host_account(user):
        rule.write_text(f"{user} ALL=(root) NOPASSWD: /usr/bin/id\n")
        rule.chmod(0o440)
        try:
            assert run("visudo", "-cf", str(rule)).returncode == 0
            key = new_key(keys, user)
            message = refused_adoption(server, user, key)
            assert "/usr/bin/id" in message and "sudo" in message, message
            # control: without the rule the same account is adopted; podspawn's own spawn
            # rule, which it now holds through the podspawn group, does not count
            rule.unlink()
            adopted = server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                      "--adopt-account")
            assert adopted.returncode == 0, adopted.stdout + adopted.stderr
            assert "spawn" in run("sudo", "-n", "-l", "-U", user).stdout
            again = server.podspawn("add-user", user, "--key-file", f"{key}.pub",
                                    "--adopt-account")
            assert again.returncode == 0, again.stdout + again.stderr
            assert logs_in_as(server, user, key)
        finally:
            rule.unlink(missing_ok=True)
            server.podspawn("remove-user", user, "--force")


# -- remove-user ----------------------------------------------------------------------------

@pytest.mark.podman
def test_remove_user_with_a_running_session(server):
    user = uname("busy")
    server.add_user(user)
    container = f"podspawn-{user}"
    proc = subprocess.Popen([*server.ssh_argv(user), "echo started; sleep 300"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    # a connection without a session: no container ends it, remove-user must
    idle = subprocess.Popen(server.ssh_argv(user, opts=["-N"]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"started\n"
        assert run(ENGINE, "inspect", container).returncode == 0
        deadline = time.monotonic() + 20
        while run("ps", "-u", user, "-o", "args=").stdout.count(f"sshd: {user}") < 2:
            assert idle.poll() is None, idle.communicate()
            assert time.monotonic() < deadline, "the idle connection did not log in"
            time.sleep(0.2)

        message = refused(server.podspawn("remove-user", user))
        assert "1 running session(s)" in message
        assert "--force" in message
        assert key_file(user).exists()
        assert run(ENGINE, "inspect", container).returncode == 0

        forced = server.podspawn("remove-user", user, "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert forced.stdout.strip() == f"removed user {user} (1 session(s) destroyed)"
        assert run(ENGINE, "inspect", container).returncode != 0
        assert run(ENGINE, "network", "inspect", f"podspawn-network.{user}").returncode != 0
        assert run("id", user).returncode != 0
        assert not key_file(user).exists()
        proc.wait(timeout=30)  # the session ends with its container
        idle.wait(timeout=30)  # and a revoked user keeps no connection
    finally:
        for p in (proc, idle):
            if p.poll() is None:
                p.kill()
            p.communicate()
    # the session's own spawn process ends late, and must not recreate anything
    deadline = time.monotonic() + 10
    while run(ENGINE, "inspect", container).returncode == 0:
        assert time.monotonic() < deadline
        time.sleep(0.5)
