"""``services.sessions`` over the fake runtime: open, reattach, repair, rollback, and a
session ended while it was being made. No engine, a real state database and locks."""

from __future__ import annotations

import pytest

from podspawn import labels
from podspawn.errors import ImageUnavailable, RuntimeFailure, RuntimeUnavailable, SessionNotFound
from podspawn.lifecycle import engine_state
from podspawn.runtime import get_runtime, login_module
from podspawn.runtime.fake_world import ExecCall
from podspawn.runtime.spec import ExecResult
from podspawn.services import sessions
from podspawn.services.images import layer_tag
from podspawn.state.sessions import get_session, list_connections
from tests.unit.fake_server import IMAGE, Server

USER = "fakealice"


def test_first_login_makes_and_records_the_session(server: Server) -> None:
    row, _ = server.login(USER)
    assert row.status == "running"
    assert row.connections == 1
    assert row.runtime_state["backend"] == "fake"
    assert row.runtime_state["shell"] == "/bin/bash"
    assert row.runtime_state["home"] == f"/home/{USER}"
    engine = engine_state(row)
    assert server.fake.poll(engine) == "running"
    # the podspawn layer was built once over the default image, and the session runs it
    layer = layer_tag(server.fake.image_id(IMAGE) or "")
    assert server.fake.image_id(layer)
    container = server.fake.containers[engine["container"]]
    assert container.image.id == server.fake.image_id(layer)
    assert container.labels[labels.SESSION] == row.id
    assert server.objects(user=USER) == [("container", "podspawn-fakealice"),
                                         ("network", "podspawn-network.fakealice")]
    # the warm login asks the backend the row names, through its login module
    warm = login_module(row.runtime_state["backend"])
    assert warm.poll(engine) == "running"
    assert warm.handoff_argv(engine, ["bash", "-l"], user=USER, workdir="/home/x",
                             env={"TERM": "xterm"}, tty=True, inherited=("SECRET",)) == [
        "fake-exec", f"--user={USER}", "--workdir=/home/x", "--tty=yes", "--env=TERM=xterm",
        "--inherit=SECRET", "--", engine["container"], "bash", "-l"]
    assert get_runtime("fake") is server.fake


def test_a_second_login_joins_the_running_session(server: Server) -> None:
    first, _ = server.login(USER)
    second, _ = server.login(USER)
    assert second.id == first.id
    assert len(list_connections(server.conn, USER, "")) == 2
    assert sum(c.labels.get(labels.ROLE) == "session" for c in server.fake.containers.values()
               ) == 1


def test_a_stopped_container_is_restarted_on_reattach(server: Server) -> None:
    first, _ = server.login(USER)
    server.fake.halt("podspawn-fakealice")
    assert server.fake.poll(engine_state(first)) == "stopped"
    again, _ = server.login(USER)
    assert again.id == first.id
    assert server.fake.poll(engine_state(first)) == "running"


def test_a_vanished_container_is_replaced_and_its_leftovers_removed(server: Server) -> None:
    first, _ = server.login(USER)
    server.fake.vanish("podspawn-fakealice")
    again, _ = server.login(USER)
    assert again.id != first.id
    assert server.fake.poll(engine_state(again)) == "running"
    sessions_seen = {f.labels[labels.SESSION] for f in server.fake.find(
        {labels.INSTANCE: server.install_id})}
    assert sessions_seen == {again.id}


def test_a_failing_user_setup_rolls_everything_back(server: Server) -> None:
    def broken(call: ExecCall) -> ExecResult | None:
        return ExecResult(1, b"useradd: not found\n") if "PODSPAWN_USER" in call.env else None

    server.fake.on_exec(broken, first=True)
    with pytest.raises(RuntimeFailure):
        server.login(USER)
    assert get_session(server.conn, USER, "") is None
    assert server.objects(user=USER) == []


def test_an_image_that_exits_at_once_fails_the_login_and_leaves_nothing(
        server: Server) -> None:
    server.fake.add_image(IMAGE, starts="exits")
    with pytest.raises(RuntimeFailure):
        server.login(USER)
    assert get_session(server.conn, USER, "") is None
    assert server.objects(user=USER) == []


def test_a_missing_image_refuses_the_login_before_anything_is_made(server: Server) -> None:
    server.fake.images.clear()
    with pytest.raises(ImageUnavailable):
        server.login(USER)
    assert get_session(server.conn, USER, "") is None
    assert server.fake.containers == {}
    assert server.fake.networks == {}


def test_a_session_stopped_while_it_starts_is_removed_by_its_maker(server: Server) -> None:
    """``podspawn stop`` between the start and the record: the maker finds its row gone,
    removes what it made and tells the user."""
    stopped: list[str] = []

    def stop_midway(call: ExecCall) -> ExecResult | None:
        if "PODSPAWN_USER" in call.env and not stopped:
            row = sessions.stop_session(config=server.config, conn=server.conn, user=USER,
                                        project="", runtime=server.fake)
            stopped.append(row.status)
        return None

    server.fake.on_exec(stop_midway, first=True)
    with pytest.raises(SessionNotFound):
        server.login(USER)
    assert stopped == ["starting"]
    assert get_session(server.conn, USER, "") is None
    assert server.objects(user=USER) == []


def test_a_failed_removal_keeps_the_row_for_the_next_try(server: Server) -> None:
    server.login(USER)
    server.fake.stuck.add("podspawn-fakealice")
    sessions.stop_session(config=server.config, conn=server.conn, user=USER, project="",
                          runtime=server.fake)
    assert get_session(server.conn, USER, "") is not None
    server.fake.stuck.clear()
    sessions.stop_session(config=server.config, conn=server.conn, user=USER, project="")
    assert get_session(server.conn, USER, "") is None  # through get_runtime(row's backend)
    assert server.objects(user=USER) == []


def test_an_engine_that_is_down_refuses_the_login_and_records_nothing(server: Server) -> None:
    server.fake.down = True
    with pytest.raises(RuntimeUnavailable):
        server.login(USER)
    assert get_session(server.conn, USER, "") is None
    server.fake.down = False
    assert server.objects(user=USER) == []
