"""``services.cleanup.run_pass`` and ``services.users.remove_user`` over the fake runtime:
grace, lifetime, vanished containers, abandoned starts, orphans of this installation only,
and a user's removal taking their sessions and volumes but nobody else's."""

from __future__ import annotations

import time

import pytest

from podspawn import labels, names
from podspawn.errors import Conflict
from podspawn.runtime.spec import SessionSpec
from podspawn.services.cleanup import run_pass
from podspawn.services.users import remove_user
from podspawn.state.records import SessionRow, UserRow
from podspawn.state.sessions import get_session, reserve_session, update_session
from podspawn.state.users import get_user, upsert_user
from tests.unit.fake_server import IMAGE, Server, disconnect

USER, OTHER = "fakebob", "fakecarol"


def _pass(server: Server, at: float | None = None):  # type: ignore[no-untyped-def]
    return run_pass(config=server.config, conn=server.conn, runtime=server.fake,
                    now=(lambda: at) if at is not None else time.time)


def assert_ended(server: Server, user: str) -> None:
    """No row and no engine object of ``user`` is left."""
    assert get_session(server.conn, user, "") is None
    assert server.objects(user=user) == []


def _volumes_of(server: Server, user: str, install: str = "", project: str = "api") -> None:
    """A workspace volume of ``user``'s, as a project session leaves it."""
    spec = SessionSpec(session_id="v1", install_id=install or server.install_id, user=user,
                       project=project, image=IMAGE, hostname=names.hostname(user, project),
                       workspace="/workspace")
    state = server.fake.start_session(spec)
    owner = {**labels.owner(spec.install_id, user, project), labels.SESSION: "v1"}
    assert server.fake.stop_session(state, owner=owner) == []


def test_a_lost_connection_starts_the_grace_period_which_then_ends_it(
        server: Server) -> None:
    _, client = server.login(USER)
    disconnect(client)
    assert _pass(server).grace_expired == 0
    graced = get_session(server.conn, USER, "")
    assert graced is not None and graced.status == "grace_period"
    assert server.objects(user=USER)  # kept during the grace period
    assert graced.grace_expiry is not None
    result = _pass(server, graced.grace_expiry + 1)
    assert result.grace_expired == 1
    assert_ended(server, USER)


def test_a_live_connection_keeps_the_session(server: Server) -> None:
    server.login(USER)
    _pass(server)
    kept = get_session(server.conn, USER, "")
    assert kept is not None and kept.status == "running" and kept.connections == 1


def test_the_lifetime_ends_a_session(server: Server) -> None:
    row, client = server.login(USER)
    disconnect(client)  # no one to warn
    result = _pass(server, row.max_lifetime + 1)
    assert result.lifetime_expired == 1
    assert_ended(server, USER)


def test_a_vanished_container_drops_its_row_and_network(server: Server) -> None:
    server.login(USER)
    server.fake.vanish(names.container_name(USER))
    assert _pass(server).rows_dropped == 1
    assert_ended(server, USER)


def test_an_abandoned_start_is_removed_by_its_session_labels(server: Server) -> None:
    """A login that died after starting its container but before recording it."""
    _, client = server.login(USER)
    update_session(server.conn, USER, "", status="starting")
    disconnect(client)
    assert _pass(server).rows_dropped == 1
    assert_ended(server, USER)


def test_a_start_in_progress_is_left_alone(server: Server) -> None:
    connection, _ = server.client(USER)
    now = time.time()
    reserve_session(server.conn, SessionRow(
        id="f" * 32, user=USER, project="", container_id="", container_name="podspawn-fakebob",
        image=IMAGE, status="starting", connections=0, created_at=now, last_activity=now,
        max_lifetime=now + 3600, mode="grace-period",
        runtime_state={"version": 2, "backend": "fake"}), connection)
    _pass(server)
    assert get_session(server.conn, USER, "") is not None


def test_orphans_of_this_installation_go_and_nobody_elses(server: Server) -> None:
    server.login(USER)
    orphan = SessionSpec(session_id="orphan1", install_id=server.install_id, user=OTHER,
                         project="", image=IMAGE, hostname=OTHER)
    server.fake.start_session(orphan)  # no row: a crash before the row was written
    foreign = SessionSpec(session_id="foreign1", install_id="another-installation",
                          user=OTHER, project="web", image=IMAGE, hostname=OTHER)
    foreign_state = server.fake.start_session(foreign)
    result = _pass(server)
    assert result.orphans_removed == 1
    assert server.objects(user=OTHER) == []
    assert server.objects(user=USER) == [("container", "podspawn-fakebob"),
                                         ("network", "podspawn-network.fakebob")]
    assert server.fake.poll(foreign_state) == "running"


def test_remove_user_ends_sessions_and_volumes_of_that_user_only(server: Server) -> None:
    for name in (USER, OTHER):
        upsert_user(server.conn, UserRow(name=name, account_created=False, created_at=1.0))
        server.login(name)
        _volumes_of(server, name)
    _volumes_of(server, USER, install="another-installation", project="web")
    with pytest.raises(Conflict):  # sessions running and no --force: nothing changes
        remove_user(config=server.config, conn=server.conn, name=USER, force=False,
                    runtime=server.fake)
    assert get_session(server.conn, USER, "") is not None
    assert ("volume", names.workspace_volume(USER, "api")) in server.objects(user=USER)

    removed = remove_user(config=server.config, conn=server.conn, name=USER, force=True,
                          runtime=server.fake)
    assert removed.sessions_destroyed == 1
    assert get_session(server.conn, USER, "") is None
    assert get_user(server.conn, USER) is None
    assert server.objects(user=USER) == []
    assert server.objects(user=OTHER) == [
        ("container", names.container_name(OTHER)), ("network", names.network_name(OTHER)),
        ("volume", names.workspace_volume(OTHER, "api"))]
    # the same user name under another installation on this engine is not ours
    assert [f.kind for f in server.fake.find({labels.INSTANCE: "another-installation"})
            ] == ["volume"]


def test_expired_disposable_users_are_removed_by_the_pass(server: Server) -> None:
    upsert_user(server.conn, UserRow(name=USER, account_created=False, created_at=1.0,
                                     expires_at=time.time() - 1))
    server.login(USER)
    assert _pass(server).users_expired == 1
    assert get_user(server.conn, USER) is None
    assert server.objects(user=USER) == []
