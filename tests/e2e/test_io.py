"""Session I/O through the real sshd: exit statuses, byte streams, and file transfer tools.

Every transfer is checked on both ends: the bytes must land inside the user's container (read
back over ``ssh``) and come back unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import uname

TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def _image_ready(server, sarah):
    """Log in once, unhurried: on a fresh machine the first login builds the image layer."""
    result = server.ssh(sarah, "true", timeout=900)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def _ok(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, (result.returncode, result.stderr.decode(errors="replace"))
    return result.stdout.decode()


def _run(argv: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def _remote_sums(server, user: str, path: str) -> dict[str, str]:
    """{relative path: sha256} of every regular file below ``path`` in the container."""
    script = f"cd {shlex.quote(path)} && find . -type f -print0 | sort -z | xargs -0 sha256sum"
    out = _ok(server.ssh(user, script, timeout=TIMEOUT))
    return {name.removeprefix("./"): digest
            for digest, name in (line.split(None, 1) for line in out.splitlines())}


def _local_sums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _tree(root: Path) -> Path:
    """A small tree with a nested directory, an empty file and a binary file."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "empty").write_bytes(b"")
    (root / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma\n" * 100)
    return root


# -- exec channel ----------------------------------------------------------------------------

def test_exit_status_is_passed_through(server, sarah):
    assert server.ssh(sarah, "exit 42", timeout=TIMEOUT).returncode == 42
    assert server.ssh(sarah, "true", timeout=TIMEOUT).returncode == 0


def test_ten_mib_of_random_bytes_round_trip(server, sarah):
    data = os.urandom(10 * 1024 * 1024)
    result = server.ssh(sarah, "cat", input=data, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(data).hexdigest()


def test_stdin_end_of_file_reaches_the_command(server, sarah):
    data = os.urandom(3 * 1024 * 1024 + 17)
    # wc only prints once it has read end-of-file; a lost EOF hangs until the timeout.
    result = server.ssh(sarah, "wc -c; echo done", input=data, timeout=TIMEOUT)
    assert _ok(result).split() == [str(len(data)), "done"]
    # an empty stdin is an immediate end-of-file too
    assert _ok(server.ssh(sarah, "wc -c", input=b"", timeout=TIMEOUT)).split() == ["0"]


def test_stdout_and_stderr_stay_separate(server, sarah):
    result = server.ssh(sarah, "echo out; echo err >&2; echo out2; echo err2 >&2",
                        timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stdout == b"out\nout2\n"
    assert result.stderr == b"err\nerr2\n"


def test_podspawn_log_lines_never_reach_the_user(server):
    newcomer = uname("quiet")
    server.add_user(newcomer)
    log_file = server.root / "log" / "podspawn.log"
    before = log_file.read_text() if log_file.exists() else ""
    for attempt in ("first login", "warm login"):
        result = server.ssh(newcomer, "true", timeout=TIMEOUT)
        assert result.returncode == 0, (attempt, result.stderr)
        assert result.stdout == b"", attempt
        assert result.stderr == b"", attempt
    # podspawn did log these logins, just not to the user
    written = log_file.read_text()[len(before):]
    assert f"user={newcomer}" in written


# -- sftp, scp, rsync ------------------------------------------------------------------------

def _key_opts(server, user: str) -> list[str]:
    return [*server.client_opts(), "-i", str(server.key_for(user))]


def test_sftp_put_and_get(server, sarah, tmp_path):
    payload = tmp_path / "up.bin"
    payload.write_bytes(os.urandom(1_500_000))
    back = tmp_path / "down.bin"
    batch = tmp_path / "batch"
    batch.write_text(f"put {payload} sftp-up.bin\nget sftp-up.bin {back}\n")
    result = _run(["sftp", "-b", str(batch), "-P", str(server.port), *_key_opts(server, sarah),
                   f"{sarah}@127.0.0.1"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert back.read_bytes() == payload.read_bytes()
    # the file landed in the container's home, not on the host
    remote = _ok(server.ssh(sarah, "sha256sum ~/sftp-up.bin", timeout=TIMEOUT)).split()[0]
    assert remote == hashlib.sha256(payload.read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", ["sftp", "legacy"])
def test_scp_upload_download_and_recursive(server, sarah, tmp_path, mode):
    flags = ["-O"] if mode == "legacy" else []
    base = ["scp", *flags, "-P", str(server.port), *_key_opts(server, sarah)]
    host = f"{sarah}@127.0.0.1"
    remote_dir = f"scp-{mode}"
    _ok(server.ssh(sarah, f"rm -rf {remote_dir} && mkdir {remote_dir}", timeout=TIMEOUT))

    payload = tmp_path / "file.bin"
    payload.write_bytes(os.urandom(2_000_000))
    up = _run([*base, str(payload), f"{host}:{remote_dir}/file.bin"])
    assert up.returncode == 0, up.stderr
    assert _remote_sums(server, sarah, remote_dir) == {
        "file.bin": hashlib.sha256(payload.read_bytes()).hexdigest()}

    back = tmp_path / "back.bin"
    down = _run([*base, f"{host}:{remote_dir}/file.bin", str(back)])
    assert down.returncode == 0, down.stderr
    assert back.read_bytes() == payload.read_bytes()

    tree = _tree(tmp_path / "tree")
    recursive = _run([*base, "-r", str(tree), f"{host}:{remote_dir}/tree"])
    assert recursive.returncode == 0, recursive.stderr
    assert _remote_sums(server, sarah, f"{remote_dir}/tree") == _local_sums(tree)
    listing = _ok(server.ssh(sarah, f"cd {remote_dir}/tree && find . -type d | sort",
                             timeout=TIMEOUT)).split()
    assert listing == [".", "./sub", "./sub/deeper"]


def test_rsync_second_run_sends_only_the_change(server, sarah, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_bytes(os.urandom(20_000))
    rsh = shlex.join(["ssh", "-p", str(server.port), *_key_opts(server, sarah)])
    argv = ["rsync", "-av", "--stats", "-e", rsh, f"{src}/", f"{sarah}@127.0.0.1:rsync-dest/"]

    def transferred(result: subprocess.CompletedProcess[str]) -> int:
        assert result.returncode == 0, result.stdout + result.stderr
        found = re.search(r"^Number of regular files transferred: (\d+)$", result.stdout, re.M)
        assert found, result.stdout
        return int(found.group(1))

    _ok(server.ssh(sarah, "rm -rf rsync-dest", timeout=TIMEOUT))
    assert transferred(_run(argv)) == 3
    assert _remote_sums(server, sarah, "rsync-dest") == _local_sums(src)

    with (src / "f1.txt").open("ab") as handle:  # a new size, so mtime granularity is moot
        handle.write(b"changed\n")
    second = _run(argv)
    assert transferred(second) == 1
    assert "f1.txt" in second.stdout.split()
    assert "f0.txt" not in second.stdout.split()
    assert _remote_sums(server, sarah, "rsync-dest") == _local_sums(src)
