"""A devcontainer.json's container keys through the real sshd and dockerd: ``remoteUser``
maps the image's own user onto the login user, a ``mounts`` volume and an allowed bind work
in the session, the VS Code extensions are listed (and installed with the image's VS Code
server) on first login, and a bind outside the allowed roots or ``runArgs --privileged`` is
refused naming it."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.e2e.harness import ENGINE, ROOT, RUN_ID
from tests.e2e.project_helpers import forget, fresh_user, pname
from tests.e2e.test_devcontainer_build import commit, project_ssh, refused

SHARED = ROOT / "dkshared"
SHARED_TEXT = f"shared {RUN_ID}".strip()  # no trailing space when RUN_ID is empty
#: The image's own user has uid 1001, so the uid-1000 rule alone would not pick it: only
#: remoteUser does. Its "VS Code server" is a script that records what it was asked.
DOCKERFILE = textwrap.dedent("""\
    FROM debian:bookworm
    RUN useradd -m -u 1001 -s /bin/bash vscode \\
     && echo vscode-tool > /home/vscode/.tool \\
     && mkdir -p /home/vscode/.vscode-server/bin/abc123/bin \\
     && printf '#!/bin/sh\\n[ "$1" = --install-extension ] && echo "$2" >> "$HOME/.exts"\\n' \\
        > /home/vscode/.vscode-server/bin/abc123/bin/code-server \\
     && chmod 755 /home/vscode/.vscode-server/bin/abc123/bin/code-server \\
     && chown -R vscode:vscode /home/vscode
""")


def make_repo(path: Path, config: dict[str, object]) -> Path:
    (path / ".devcontainer").mkdir(parents=True)
    (path / ".devcontainer" / "devcontainer.json").write_text(
        "// container keys\n" + json.dumps(config, indent=2))
    (path / ".devcontainer" / "Dockerfile").write_text(DOCKERFILE)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "init")
    return path


@pytest.fixture
def shared(server):
    shutil.rmtree(SHARED, ignore_errors=True)
    (SHARED / "data").mkdir(parents=True)
    (SHARED / "data" / "real").write_text(SHARED_TEXT + "\n")
    server.set_config({"security": {"allowed_bind_roots": [str(SHARED)]}})
    yield SHARED
    server.set_config(None)
    shutil.rmtree(SHARED, ignore_errors=True)


FULL = {
    "build": {"dockerfile": "Dockerfile"},
    "remoteUser": "vscode",
    "mounts": ["source=cache-${devcontainerId},target=/cache,type=volume",
               {"source": str(SHARED / "data"), "target": "/data", "type": "bind"}],
    "runArgs": ["-e", "FROM_RUNARGS=yes", "--init"],
    "hostRequirements": {"cpus": 4096},
    "customizations": {"vscode": {"extensions": ["ms-python.python", "golang.go"]}},
    "shutdownAction": "stopContainer",
}


def test_the_container_keys_work_in_a_session(server, shared, tmp_path):
    name = pname("dckeys")
    forget(server, name)
    repo = make_repo(tmp_path / "repo", FULL)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    user = ""
    try:
        assert "warning: the project asks for 4096 CPUs and this host has" in added.stderr
        user = fresh_user(server, "dckeys")
        seen = project_ssh(server, user, name, "whoami; id -u; cat ~/.tool; ls /home; "
                           "echo R=$FROM_RUNARGS; echo hi > /cache/f && cat /cache/f; "
                           "cat /data/real; cat ~/.exts")
        out, err = seen.stdout.decode(), seen.stderr.decode()
        assert seen.returncode == 0, err
        uid = subprocess.run(["id", "-u", user], capture_output=True, text=True,
                             check=True).stdout.strip()
        lines = out.splitlines()
        # the image's vscode user became the login user: its uid is the login's, its home
        # and tools are the user's, and no separate vscode home is left
        assert lines[:3] == [user, uid, "vscode-tool"]
        assert "R=yes" in lines
        assert lines[-4:] == ["hi", SHARED_TEXT, "ms-python.python",
                              "golang.go"]
        assert ("This project recommends 2 VS Code extension(s): ms-python.python, golang.go"
                in err), err
        assert "installed in the container's VS Code server: ms-python.python, golang.go" in err
        assert "warning: the project asks for 4096 CPUs and this host has" in err
        volumes = subprocess.run([ENGINE, "volume", "ls", "--format", "{{.Name}}"],
                                 capture_output=True, text=True, check=True).stdout.split()
        assert f"podspawn-volume.{user}.{name}.cache-devcontainer" in volumes
    finally:
        if user:
            server.podspawn("remove-user", user, "--force")
        forget(server, name)


def test_a_bind_outside_the_allowed_roots_is_refused_naming_it(server, shared, tmp_path):
    name = pname("dcbindout")
    repo = make_repo(tmp_path / "out", {"image": "debian:bookworm",
                                        "mounts": ["source=/etc,target=/host-etc,type=bind"]})
    message = refused(server, name, repo)
    assert "volumes.0 (/etc:/host-etc): host path /etc is not allowed on this server" in message
    # positive control: the same key with a directory under the allowed root registers
    repo = make_repo(tmp_path / "in", {"image": "debian:bookworm", "mounts": [
        f"source={SHARED / 'data'},target=/data,type=bind"]})
    added = server.podspawn("add-project", name, "--repo", str(repo))
    try:
        assert added.returncode == 0, added.stderr
    finally:
        forget(server, name)


def test_run_args_privileged_is_refused_naming_it(server, tmp_path):
    name = pname("dcpriv")
    repo = make_repo(tmp_path / "priv", {"image": "debian:bookworm",
                                         "runArgs": ["--privileged"]})
    message = refused(server, name, repo)
    assert "runArgs --privileged is refused: it would weaken the session's isolation" in message


def test_a_link_planted_through_one_bind_is_refused_for_the_next_session(server, shared,
                                                                         tmp_path):
    """The attack: the dev container user (root through sudo) replaces a bound directory's
    subdirectory, which another mount of the project binds, with a link to the host's /."""
    (SHARED / "data" / "sub").mkdir()
    (SHARED / "data" / "sub" / "real").write_text("sub\n")
    name = pname("dcplant")
    forget(server, name)
    repo = make_repo(tmp_path / "plant", {"build": {"dockerfile": "Dockerfile"}, "mounts": [
        f"source={SHARED / 'data'},target=/data,type=bind",
        f"source={SHARED / 'data' / 'sub'},target=/sub,type=bind"]})
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    users = []
    try:
        users.append(fresh_user(server, "dcplanter"))
        planted = project_ssh(server, users[0], name,
                              "cat /sub/real && sudo rm -rf /data/sub && sudo ln -s / /data/sub "
                              "&& echo PLANTED")
        assert planted.returncode == 0, planted.stderr.decode()
        assert planted.stdout.decode().split() == ["sub", "PLANTED"]  # the control
        assert (SHARED / "data" / "sub").is_symlink()
        users.append(fresh_user(server, "dcvictim"))
        victim = project_ssh(server, users[1], name, "ls /sub; echo VICTIM-IN")
        err = victim.stderr.decode()
        assert victim.returncode != 0
        assert b"VICTIM-IN" not in victim.stdout
        assert "the Podfile's volumes.1" in err and "passes through a symbolic link" in err, err
        assert "Traceback" not in err
    finally:
        for user in users:
            server.podspawn("remove-user", user, "--force")
        forget(server, name)


def test_cap_add_beyond_the_policy_is_refused_naming_it(server, tmp_path):
    name = pname("dccaps")
    repo = make_repo(tmp_path / "caps", {"image": "debian:bookworm",
                                         "capAdd": ["SYS_CHROOT", "NET_ADMIN"]})
    message = refused(server, name, repo)
    assert "cap_add asks for NET_ADMIN, which this server does not grant" in message
    # positive control: a capability every session already has is accepted
    repo = make_repo(tmp_path / "granted", {"image": "debian:bookworm",
                                            "capAdd": ["SYS_CHROOT"]})
    added = server.podspawn("add-project", name, "--repo", str(repo))
    try:
        assert added.returncode == 0, added.stderr
    finally:
        forget(server, name)
