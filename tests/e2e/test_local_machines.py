"""Named machines end to end (create, shell, run, rm, switch-branch, list), ``dev --mount
copy`` and the unreachable-Docker message, run by an ordinary ``docker``-group account on the
real dockerd. The project is a local git repository the account owns (no network here)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import test_local_mode as local
from tests.e2e.conftest import BIN
from tests.e2e.test_local_mode import Dev, _objects, _podfile

dev = local.dev  # the fixtures, shared with test_local_mode
project = local.project


def _as(dev: Dev, cwd: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    return subprocess.run(
        ["runuser", "-u", dev.user, "--", "env", f"HOME={dev.home}", f"USER={dev.user}",
         "PATH=/usr/local/bin:/usr/bin:/bin", *extra, str(BIN), *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, check=False, input=stdin)


def _repo(dev: Dev, podfile: str) -> Path:
    """A repository with branches main and feature (feature adds feature.txt)."""
    repo = dev.home / "repo"
    script = f"""set -e
git init -q -b main {repo}
cd {repo}
git config user.name t && git config user.email t@t
printf '%s' '{podfile}' > podfile.yaml
git add . && git commit -qm main
git checkout -q -b feature && echo feat > feature.txt && git add . && git commit -qm f
git checkout -q main
"""
    subprocess.run(["runuser", "-u", dev.user, "--", "sh", "-c", script], check=True,
                   env={"HOME": str(dev.home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    return repo


def _listed(dev: Dev) -> dict[str, dict[str, object]]:
    result = _as(dev, dev.home, "--json", "list", "--local")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_a_project_machine_from_create_to_rm(dev: Dev, project: str):
    on_create = "on_create: echo made-by-on-create > created.txt\n"
    repo = _repo(dev, _podfile(project, on_create))
    name = "m1"
    no_project = _as(dev, dev.home, "create", name, "--branch", "feature")
    assert no_project.returncode == 2 and "--branch requires --project" in no_project.stderr
    assert "Traceback" not in no_project.stderr

    made = _as(dev, dev.home, "--json", "create", name, "--project", str(repo))
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    workspace = Path(info["workspace"])
    assert info["branch"] == "main" and workspace == dev.home / ".podspawn/workspaces" / name
    # on_create ran in the mounted workspace, as the account: its output is in the checkout
    created = workspace / "created.txt"
    assert created.read_text() == "made-by-on-create\n"
    assert created.stat().st_uid == workspace.stat().st_uid == _uid(dev)
    assert _listed(dev)[name]["kind"] == "machine"

    attached = _as(dev, dev.home, "shell", name, stdin="pwd; id -u; ls\n")
    assert attached.returncode == 0, attached.stderr
    lines = attached.stdout.split()
    assert lines[:2] == [f"/workspace/{project}", str(_uid(dev))] and "created.txt" in lines

    (workspace / "dirty.txt").write_text("x")
    dirty = _as(dev, dev.home, "switch-branch", name, "feature")
    assert dirty.returncode == 1 and "uncommitted changes" in dirty.stderr, dirty.stderr
    assert not (workspace / "feature.txt").exists()
    (workspace / "dirty.txt").unlink()
    (workspace / "created.txt").unlink()  # on_create's output; the tree is clean again
    switched = _as(dev, dev.home, "switch-branch", name, "feature")
    assert switched.returncode == 0, switched.stderr
    assert (workspace / "feature.txt").read_text() == "feat\n"
    assert _listed(dev)[name]["branch"] == "feature"
    again = _as(dev, dev.home, "shell", name, stdin="cat feature.txt created.txt\n")
    assert again.stdout == "feat\nmade-by-on-create\n", again.stderr  # on_create re-ran

    removed = _as(dev, dev.home, "rm", name)
    assert removed.returncode == 0, removed.stderr
    assert not workspace.exists() and name not in _listed(dev)
    assert _objects(dev.user, "container") == []


def _uid(dev: Dev) -> int:
    import pwd

    return pwd.getpwnam(dev.user).pw_uid


def test_a_live_shell_blocks_rm_and_switch_branch_until_forced(dev: Dev, project: str):
    repo = _repo(dev, _podfile(project))
    assert _as(dev, dev.home, "create", "m2", "--project", str(repo)).returncode == 0
    shell = subprocess.Popen(
        ["runuser", "-u", dev.user, "--", "env", f"HOME={dev.home}", f"USER={dev.user}",
         "PATH=/usr/local/bin:/usr/bin:/bin", str(BIN), "shell", "m2"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _listed(dev)["m2"]["connections"] != 1:
            assert time.monotonic() < deadline, "the shell never attached"
            time.sleep(0.3)
        switch = _as(dev, dev.home, "switch-branch", "m2", "feature")
        assert switch.returncode == 1 and "shell attached" in switch.stderr, switch.stderr
        refused = _as(dev, dev.home, "rm", "m2")
        assert refused.returncode == 1 and "--force" in refused.stderr, refused.stderr
        assert (dev.home / ".podspawn/workspaces/m2").is_dir()
        forced = _as(dev, dev.home, "rm", "m2", "--force")
        assert forced.returncode == 0, forced.stderr
        assert not (dev.home / ".podspawn/workspaces/m2").exists()
        assert _objects(dev.user, "container") == []
    finally:
        assert shell.stdin is not None
        shell.stdin.close()
        shell.wait(timeout=60)


def test_a_failing_on_create_keeps_the_workspace(dev: Dev, project: str):
    repo = _repo(dev, _podfile(project, "on_create: echo half > half.txt; exit 3\n"))
    failed = _as(dev, dev.home, "create", "m3", "--project", str(repo))
    assert failed.returncode == 1, failed.stderr
    assert "'podspawn create m3'" in failed.stderr and "'podspawn rm m3'" in failed.stderr
    assert "Traceback" not in failed.stderr
    workspace = dev.home / ".podspawn/workspaces/m3"
    assert (workspace / "podfile.yaml").is_file()  # the checkout is kept
    assert _listed(dev)["m3"]["status"] == "preserved"
    assert _objects(dev.user, "container") == []
    retried = _as(dev, dev.home, "create", "m3")
    assert retried.returncode == 1 and "'podspawn rm m3'" in retried.stderr
    assert _as(dev, dev.home, "rm", "m3").returncode == 0
    assert not workspace.exists() and "m3" not in _listed(dev)


def test_run_is_thrown_away_and_passes_the_status(dev: Dev):
    args = ("--image", "debian:bookworm", "--", "sh", "-c", "exit 7")
    result = _as(dev, dev.home, "run", "tmp1", *args)
    assert result.returncode == 7, result.stderr
    printed = _as(dev, dev.home, "run", "tmp1", "--image", "debian:bookworm", "--",
                  "printf", "%s|", "a b", "$HOME")
    assert printed.returncode == 0 and printed.stdout == "a b|$HOME|", printed.stderr
    assert _objects(dev.user, "container") == [] and "tmp1" not in _listed(dev)


def test_dev_mount_copy_gives_the_user_a_copy(dev: Dev, project: str):
    checkout = dev.checkout("cp", _podfile(project))
    (checkout / "sub").mkdir()
    (checkout / "sub" / "file.txt").write_text("host\n")
    subprocess.run(["chown", "-R", f"{dev.user}:{dev.user}", str(checkout)], check=True)
    result = _as(dev, checkout, "dev", "--mount", "copy", "--", "sh", "-c",
                 "cat sub/file.txt; stat -c %u sub/file.txt .; echo inside > sub/file.txt")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["host", str(_uid(dev)), str(_uid(dev))]
    assert "mount: copy of ~/cp" in result.stderr
    assert (checkout / "sub" / "file.txt").read_text() == "host\n"  # a copy, not the checkout
    assert _as(dev, checkout, "down").returncode == 0


def test_an_unreachable_docker_says_what_to_start(dev: Dev):
    result = _as(dev, dev.home, "list", "--local", env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 1
    assert "start Docker Desktop or the docker service" in result.stderr
    assert "DOCKER_HOST" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["../x", "a b"])
def test_hostile_machine_names_are_refused(dev: Dev, name: str):
    result = _as(dev, dev.home, "create", name)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (dev.home / ".podspawn/machines").exists() or not any(
        (dev.home / ".podspawn/machines").iterdir())
