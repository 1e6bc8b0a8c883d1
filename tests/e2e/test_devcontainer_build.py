"""A devcontainer.json with ``build``: the base is built on the server from the repository's
Dockerfile and context, rebuilt when either changes and only then, and a context leaving the
repository is refused by the key's name. Through the real sshd and dockerd."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from pathlib import Path

from tests.e2e.harness import RUN_ID
from tests.e2e.project_helpers import forget, fresh_user, pname, project_images

DOCKERFILE = textwrap.dedent("""\
    FROM debian:bookworm AS dev
    ARG GREETING=unset
    COPY . /opt/ctx
    RUN echo "$GREETING" > /opt/greeting && echo dev > /opt/stage

    FROM debian:bookworm AS prod
    RUN echo prod > /opt/stage
""")


def commit(repo: Path, message: str) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)


def make_repo(path: Path, build: dict[str, object]) -> Path:
    (path / ".devcontainer").mkdir(parents=True)
    (path / ".devcontainer" / "devcontainer.json").write_text(
        "// built on the server\n" + json.dumps({"build": build, "containerEnv": {"DC": "1"}}))
    (path / ".devcontainer" / "Dockerfile").write_text(DOCKERFILE)
    (path / "app").mkdir()
    (path / "app" / "app.txt").write_text(f"version one {RUN_ID}\n")
    (path / "app" / "notes.txt").write_text("ignored\n")
    (path / "app" / ".dockerignore").write_text("notes.txt\n")
    (path / "README.md").write_text("outside the context\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "init")
    return path


BUILD = {"dockerfile": "Dockerfile", "context": "../app", "args": {"GREETING": "hello"},
         "target": "dev"}


def project_ssh(server, user: str, project: str, command: str):
    return server.ssh(user, command, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={project}"),
                      timeout=900)


def last_word(text: str) -> str:
    return text.strip().rsplit(" ", 1)[-1]


def test_a_build_registers_rebuilds_on_its_context_only(server, tmp_path):
    name = pname("dcbuild")
    forget(server, name)
    repo = make_repo(tmp_path / "repo", BUILD)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        first_tag = last_word(added.stdout)
        assert first_tag.startswith(f"podspawn/{name}:podfile-")
        assert any(image.startswith("podspawn/build:") for image in project_images(name))
        user = fresh_user(server, "dcbuilder")
        seen = project_ssh(server, user, name, "cat /opt/ctx/app.txt /opt/greeting /opt/stage; "
                           "ls -A /opt/ctx; echo DC=$DC")
        out = seen.stdout.decode()
        assert seen.returncode == 0, seen.stderr.decode()
        assert out.splitlines()[:3] == [f"version one {RUN_ID}", "hello", "dev"]
        assert "notes.txt" not in out  # .dockerignore kept it out of the context
        assert ".dockerignore" in out and "app.txt" in out
        assert "DC=1" in out

        (repo / "README.md").write_text("changed, outside the context\n")
        (repo / "app" / "notes.txt").write_text("changed, but ignored\n")
        commit(repo, "unrelated")
        same = server.podspawn("update-project", name)
        assert same.returncode == 0, same.stderr
        assert "image unchanged" in same.stdout
        assert last_word(same.stdout) == first_tag

        (repo / "app" / "app.txt").write_text(f"version two {RUN_ID}\n")
        commit(repo, "context")
        changed = server.podspawn("update-project", name)
        assert changed.returncode == 0, changed.stderr
        assert "image rebuilt" in changed.stdout
        assert last_word(changed.stdout) != first_tag
        server.podspawn("remove-user", user, "--force")
        user = fresh_user(server, "dcbuilder")
        again = project_ssh(server, user, name, "cat /opt/ctx/app.txt")
        # the file holds "version two RUN_ID" (a trailing space when the run has no id)
        assert again.stdout.decode().strip() == f"version two {RUN_ID}".strip(), \
            again.stderr.decode()

        (repo / ".devcontainer" / "Dockerfile").write_text(DOCKERFILE + "\n# edited\n")
        commit(repo, "dockerfile")
        edited = server.podspawn("update-project", name)
        assert edited.returncode == 0, edited.stderr
        assert "image rebuilt" in edited.stdout
        server.podspawn("remove-user", user, "--force")
    finally:
        forget(server, name)


def refused(server, name: str, repo: Path) -> str:
    result = server.podspawn("add-project", name, "--repo", str(repo))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    listed = server.podspawn("--json", "list-projects")
    assert name not in [p["name"] for p in json.loads(listed.stdout)]
    return result.stderr


def test_a_context_leaving_the_repository_is_refused_by_key(server, tmp_path):
    name = pname("dcescape")
    repo = make_repo(tmp_path / "dots", {**BUILD, "context": "../.."})
    message = refused(server, name, repo)
    assert "build.context '../..' leaves the repository" in message


def test_a_context_symlinked_out_is_refused_by_key(server, tmp_path):
    name = pname("dclink")
    repo = make_repo(tmp_path / "link", {**BUILD, "context": "../ctx"})
    os.symlink("/etc", repo / "ctx")
    commit(repo, "a link out")
    message = refused(server, name, repo)
    assert "build.context 'ctx' leads out of the repository through a symlink" in message
    # positive control: the same link pointing inside the repository is accepted
    (repo / "ctx").unlink()
    os.symlink("app", repo / "ctx")
    commit(repo, "a link in")
    added = server.podspawn("add-project", name, "--repo", str(repo))
    try:
        assert added.returncode == 0, added.stderr
    finally:
        forget(server, name)


FORK = "sh -c 'i=0; while [ $i -lt 400 ]; do sleep 30 & i=$((i+1)); done; echo SPAWNED'"


def fork_repo(path: Path) -> Path:
    """A devcontainer whose own Dockerfile forks 400 processes; a fresh first step every
    time, so the builder's cache never answers for a step built under other limits."""
    repo = make_repo(path, BUILD)
    (repo / ".devcontainer" / "Dockerfile").write_text(
        f"FROM debian:bookworm AS dev\nRUN echo {uuid.uuid4().hex}\nRUN {FORK}\n")
    commit(repo, "fork")
    return repo


def test_the_repositorys_dockerfile_builds_under_the_build_limits(server, tmp_path):
    name = pname("dcfork")
    forget(server, name)
    server.set_config({"images": {"build_pids": 200}})
    try:
        before = server.config.read_text()
        result = server.podspawn("add-project", name, "--repo", str(fork_repo(tmp_path / "a")))
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert (f"the image build of project {name} was stopped at RUN sh -c") in result.stderr
        assert "(images.build_pids: 200)" in result.stderr, result.stderr
        assert server.config.read_text() == before
        assert project_images(name) == []
        # the control: the same Dockerfile builds where the limit allows it
        server.set_config({"images": {"build_pids": 1000}})
        result = server.podspawn("add-project", name, "--repo", str(fork_repo(tmp_path / "b")))
        assert result.returncode == 0, result.stderr
    finally:
        server.set_config(None)
        forget(server, name)
