"""``services.sessions.create_session`` of a project over the fake runtime: companions from
the Podfile, ``on_start`` as the user in the workspace, and rollback when a companion is
missing or dies, keeping the data of earlier sessions."""

from __future__ import annotations

import pytest

from podspawn import labels, names
from podspawn.errors import ImageUnavailable, RuntimeFailure
from podspawn.podfile.load import validate
from podspawn.runtime.fake_world import ExecCall
from podspawn.runtime.spec import ExecResult
from podspawn.services import sessions
from podspawn.services.overrides import Dotfiles, Effective
from tests.unit.fake_server import IMAGE, Server

USER, PROJECT = "fakedana", "api"
DB_IMAGE = "postgres:16"


def _plan(server: Server, **podfile: object) -> sessions.Plan:
    data = {"base": IMAGE, "services": [{
        "name": "db", "image": DB_IMAGE, "command": ["postgres"],
        "volumes": ["pgdata:/var/lib/postgresql/data"]}], **podfile}
    return sessions.Plan(user=USER, project=PROJECT, image=IMAGE, podfile=validate(data),
                         uid=20001, gid=20001,
                         settings=Effective(defaults=server.config.defaults,
                                            mode="grace-period", env={}, dotfiles=Dotfiles()))


def _create(server: Server, plan: sessions.Plan, session: str = "a" * 32,
            progress: list[str] | None = None) -> sessions.Made:
    return sessions.create_session(config=server.config, conn=server.conn,
                                   runtime=server.fake, plan=plan, session_id=session,
                                   progress=None if progress is None else progress.append)


def test_a_project_session_gets_its_companions_and_runs_on_start(server: Server) -> None:
    server.fake.add_image(DB_IMAGE)
    ran: list[ExecCall] = []

    def on_start(call: ExecCall) -> ExecResult | None:
        if call.argv[-1:] == ("make dev",):
            ran.append(call)
            return ExecResult(0, b"dev server up\n")
        return None

    server.fake.on_exec(on_start)
    seen: list[str] = []
    made = _create(server, _plan(server, on_start="make dev"), progress=seen)
    assert server.fake.exec(made.engine, ["getent", "hosts", "db"]).exit_code == 0
    assert [(c.user, c.workdir) for c in ran] == [(USER, made.workdir)]
    assert made.workdir == "/workspace/api"
    assert "dev server up" in seen
    assert server.objects(user=USER, role="volume") == [
        ("volume", names.volume_name(USER, PROJECT, "pgdata"))]
    assert server.objects(user=USER, role="workspace") == [
        ("volume", names.workspace_volume(USER, PROJECT))]


def test_a_failing_on_start_only_warns(server: Server) -> None:
    server.fake.add_image(DB_IMAGE)
    server.fake.on_exec(lambda call: ExecResult(3, b"boom\n")
                        if call.argv[-1:] == ("make dev",) else None)
    seen: list[str] = []
    made = _create(server, _plan(server, on_start="make dev"), progress=seen)
    assert server.fake.poll(made.engine) == "running"
    assert "warning: on_start exited with status 3" in seen


def test_a_missing_companion_image_names_the_fix_and_makes_nothing(server: Server) -> None:
    with pytest.raises(ImageUnavailable) as caught:
        _create(server, _plan(server))
    assert f"podspawn update-project {PROJECT}" in caught.value.message
    assert server.objects(user=USER) == []


def test_a_companion_that_dies_rolls_back_all_but_older_volumes(server: Server) -> None:
    server.fake.add_image(DB_IMAGE)
    first = _create(server, _plan(server), session="a" * 32)
    owner = {**labels.owner(server.install_id, USER, PROJECT), labels.SESSION: "a" * 32}
    assert server.fake.stop_session(first.engine, owner=owner) == []
    kept = server.objects(user=USER)
    assert [kind for kind, _ in kept] == ["volume", "volume"]

    server.fake.add_image(DB_IMAGE, starts="exits")
    services = [{"name": "db", "image": DB_IMAGE, "command": ["postgres"],
                 "volumes": ["pgdata:/var/lib/postgresql/data", "fresh:/fresh"]}]
    plan = _plan(server, services=services)
    with pytest.raises(RuntimeFailure) as caught:
        _create(server, plan, session="b" * 32)
    assert "db" in caught.value.message
    assert server.objects(user=USER) == kept
