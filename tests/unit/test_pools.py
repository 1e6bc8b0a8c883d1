"""Warm pools over the fake runtime: filling to the count, a first login claiming a slot
once and for one user only, later sessions keeping the slot's volumes, draining what no
longer fits, and orphans of a crash."""

from __future__ import annotations

import dataclasses

from podspawn import labels
from podspawn.podfile.load import validate
from podspawn.services import cleanup, pool_slots, pools, sessions
from podspawn.services.overrides import Dotfiles, Effective
from podspawn.state.pools import claimed_slot, list_members
from podspawn.state.records import SessionRow
from podspawn.state.sessions import get_session
from tests.unit.fake_server import IMAGE, Server, disconnect


def _warm(server: Server, count: int) -> None:
    server.config = dataclasses.replace(
        server.config, defaults=dataclasses.replace(server.config.defaults, warm=count))


def _fill(server: Server) -> pools.FillResult:
    return pools.fill(config=server.config, conn=server.conn, runtime=server.fake)


def _pool_sessions(server: Server) -> list[str]:
    return sorted(name for kind, name in server.objects(role="session")
                  if kind == "container" and "pool." in name)


def test_fill_makes_the_count_and_no_more(server: Server) -> None:
    _warm(server, 2)
    assert _fill(server) == pools.FillResult(made=2)
    assert _fill(server) == pools.FillResult()
    members = list_members(server.conn, "")
    assert [m.status for m in members] == ["ready", "ready"]
    assert len(_pool_sessions(server)) == 2
    _warm(server, 1)
    assert _fill(server).drained == 1
    assert len(list_members(server.conn, "")) == 1


def test_a_first_login_claims_a_slot_that_nobody_else_gets(server: Server) -> None:
    _warm(server, 1)
    _fill(server)
    [member] = list_members(server.conn, "")
    row, process = server.login("fakeann")
    assert row.runtime_state["pool"] == member.slot
    assert row.container_id == member.engine["container"]
    assert list_members(server.conn, "") == []
    assert claimed_slot(server.conn, "fakeann", "") == member.slot
    # the pool is empty now: the next first login starts its own container
    other, other_process = server.login("fakebob")
    assert "pool" not in other.runtime_state
    assert other.container_id != row.container_id
    disconnect(process)
    disconnect(other_process)


def test_a_claimed_session_is_ended_with_the_slot_labels(server: Server) -> None:
    _warm(server, 1)
    _fill(server)
    row, process = server.login("fakeann")
    disconnect(process)
    from podspawn.services.sessions import stop_session

    stop_session(config=server.config, conn=server.conn, user="fakeann", project="",
                 runtime=server.fake)
    assert server.fake.poll(dict(row.runtime_state["engine"])) == "gone"
    assert get_session(server.conn, "fakeann", "") is None


def _project_plan(server: Server, user: str) -> sessions.Plan:
    return sessions.Plan(user=user, project="api", image=IMAGE,
                         podfile=validate({"base": IMAGE}), uid=20001 if user else 0,
                         gid=20001 if user else 0,
                         settings=Effective(defaults=server.config.defaults,
                                            mode="grace-period", env={}, dotfiles=Dotfiles()))


def _claim(server: Server, user: str) -> SessionRow | None:
    plan = _project_plan(server, user)
    connection, _ = server.client(user, "api")
    return pool_slots.claim(
        config=server.config, conn=server.conn, runtime=server.fake, plan=plan,
        spec=sessions.session_spec(server.config, plan, session_id="",
                                   install_id=server.install_id),
        row=lambda slot: sessions._reservation(server.config, plan, "fake", slot),
        connection=connection)


def test_only_a_first_login_claims_a_slot_of_a_project(server: Server) -> None:
    slot_plan = _project_plan(server, "")
    spec = pools._slot_spec(server.config, slot_plan, server.install_id, "0" * 12, "")
    for _ in range(2):
        pools._make_one(server.config, server.conn, server.fake, server.install_id,
                        slot_plan, pool_slots.fingerprint(spec))
    # a returning user (a workspace of their own) is left to start their own session
    owner = labels.owner(server.install_id, "fakeann", "api")
    server.fake._volume("podspawn-workspace.fakeann.api", {**owner, labels.ROLE: "workspace"})
    assert _claim(server, "fakeann") is None
    assert len(list_members(server.conn, "api")) == 2
    # the control: a user with nothing of the project yet claims one, with the slot's id
    row = _claim(server, "fakebob")
    assert row is not None and row.status == "starting"
    assert row.runtime_state["pool"] == claimed_slot(server.conn, "fakebob", "api")
    assert len(list_members(server.conn, "api")) == 1


def test_cleanup_removes_what_a_crashed_claim_or_fill_left(server: Server) -> None:
    _warm(server, 1)
    _fill(server)
    [member] = list_members(server.conn, "")
    from podspawn.state.pools import drop_member

    drop_member(server.conn, member.slot)  # as if the row vanished mid-way
    assert _pool_sessions(server)
    _warm(server, 0)
    result = cleanup.run_pass(config=server.config, conn=server.conn, runtime=server.fake)
    assert result.orphans_removed >= 1
    assert _pool_sessions(server) == []


def test_a_slot_fits_only_the_spec_it_was_made_for(server: Server) -> None:
    _warm(server, 1)
    plan = pools.slot_plan(server.fake, server.config, "")
    spec = pools._slot_spec(server.config, plan, server.install_id, "0" * 12, "s")
    user_spec = dataclasses.replace(spec, pool="", user="fakeann", hostname="x",
                                    env={"A": "1"}, session_id="t")
    assert pool_slots.fingerprint(spec) == pool_slots.fingerprint(user_spec)
    bigger = dataclasses.replace(user_spec, limits=dataclasses.replace(spec.limits, cpus=9))
    assert pool_slots.fingerprint(bigger) != pool_slots.fingerprint(spec)
