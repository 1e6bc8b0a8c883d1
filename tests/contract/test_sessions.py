"""The session half of the contract (``Runtime.start_session``, ``poll``, ``resume``,
``stop_session``, ``exec``): the edge cases its docstrings state, on every backend."""

from __future__ import annotations

import threading

import pytest

from podspawn import labels, names
from podspawn.errors import AddressSpaceExhausted, Conflict, ImageUnavailable, RuntimeFailure
from podspawn.runtime.base import EngineState
from podspawn.runtime.spec import Volume
from podspawn.runtime.subnets import AddressPool, Headroom
from tests.contract.conftest import IMAGE, Harness, companion, user


def kinds(backend: Harness, owner: dict[str, str]) -> list[tuple[str, str]]:
    """(kind, name) of everything that carries ``owner``, sorted."""
    return sorted((f.kind, f.name) for f in backend.runtime.find(owner))


def test_poll_before_any_start_is_gone_without_asking(backend: Harness) -> None:
    assert backend.runtime.poll({}) == "gone"


def test_poll_during_a_slow_start_is_gone_and_does_not_disturb_it(backend: Harness) -> None:
    who = user("slow")
    spec = backend.spec(who, companions=(backend.slow_companion("db", 2.0),))
    result: dict[str, object] = {}

    def start() -> None:
        try:
            result["state"] = backend.runtime.start_session(spec)
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=start)
    thread.start()
    try:
        thread.join(0.8)
        assert thread.is_alive(), "the start was not slow, so this proves nothing"
        assert backend.runtime.poll({}) == "gone"
    finally:
        thread.join(60)
    assert "error" not in result, result.get("error")
    state = result["state"]
    assert isinstance(state, dict)
    assert backend.runtime.poll(state) == "running"


def test_poll_after_the_container_vanished_is_gone_and_stop_converges(
        backend: Harness) -> None:
    who = user("gone")
    spec = backend.spec(who, companions=(companion("db"),))
    state = backend.runtime.start_session(spec)
    owner = {**backend.owner(who), labels.SESSION: spec.session_id}
    backend.vanish(names.container_name(who, "api"))
    assert backend.runtime.poll(state) == "gone"
    with pytest.raises(RuntimeFailure):
        backend.runtime.exec(state, ["true"])
    assert backend.runtime.stop_session(state, owner=owner) == []
    assert kinds(backend, backend.owner(who)) == []
    assert backend.runtime.stop_session(state, owner=owner) == []  # again: still success


def test_a_stopped_session_polls_stopped_and_resumes(backend: Harness) -> None:
    who = user("halt")
    spec = backend.spec(who, companions=(companion("db"),))
    state = backend.runtime.start_session(spec)
    backend.halt(names.service_container_name(who, "api", "db"))
    backend.halt(names.container_name(who, "api"))
    assert backend.runtime.poll(state) == "stopped"
    with pytest.raises(RuntimeFailure):
        backend.runtime.exec(state, ["true"])
    backend.runtime.resume(state)
    assert backend.runtime.poll(state) == "running"
    assert backend.runtime.exec(state, ["getent", "hosts", "db"]).exit_code == 0
    backend.runtime.resume(state)  # a running one is left alone
    assert backend.runtime.poll(state) == "running"


def test_resume_of_a_vanished_session_fails(backend: Harness) -> None:
    who = user("resume")
    state = backend.runtime.start_session(backend.spec(who))
    backend.vanish(names.container_name(who, "api"))
    with pytest.raises(RuntimeFailure):
        backend.runtime.resume(state)


def test_companions_are_reachable_by_name_and_carry_the_session(backend: Harness) -> None:
    who = user("comp")
    spec = backend.spec(who, companions=(companion("db"),
                                         companion("cache")))
    seen: list[str] = []
    state = backend.runtime.start_session(spec, progress=seen.append)
    assert backend.runtime.poll(state) == "running"
    for name in ("db", "cache"):
        found = backend.runtime.exec(state, ["getent", "hosts", name])
        assert found.exit_code == 0, found.output
        assert name in found.output.decode()
    assert backend.runtime.exec(state, ["getent", "hosts", "nosuchpeer"]).exit_code != 0
    assert any("db" in line for line in seen)
    session = {**backend.owner(who), labels.SESSION: spec.session_id}
    found = {(f.kind, f.labels.get(labels.ROLE)) for f in backend.runtime.find(session)}
    assert found == {("container", "session"), ("container", "service"), ("network", "network")}


def test_volumes_outlive_the_session_and_carry_no_session_id(backend: Harness) -> None:
    who = user("vol")
    db = companion("db", volumes=(Volume(name="data", target="/data"),))
    first = backend.spec(who, workspace="/workspace", companions=(db,), session="s1")
    state = backend.runtime.start_session(first)
    written = backend.runtime.exec(state, ["tee", "/workspace/note"], stdin=b"kept\n")
    assert written.exit_code == 0, written.output
    owner = backend.owner(who)
    # another session's id owns none of this: nothing is removed, and that is reported
    assert backend.runtime.stop_session(state, owner={**owner, labels.SESSION: "other"})
    assert backend.runtime.poll(state) == "running"
    assert backend.runtime.stop_session(
        state, owner={**owner, labels.SESSION: first.session_id}) == []
    volumes = {f.name: f.labels for f in backend.runtime.find(owner) if f.kind == "volume"}
    assert set(volumes) == {names.workspace_volume(who, "api"),
                            names.volume_name(who, "api", "data")}
    for volume_labels in volumes.values():
        assert labels.SESSION not in volume_labels
        assert labels.carries(volume_labels, owner)
    assert [f.kind for f in backend.runtime.find(owner)] == ["volume", "volume"]

    second = backend.spec(who, workspace="/workspace", companions=(db,), session="s2")
    state = backend.runtime.start_session(second)
    again = backend.runtime.exec(state, ["cat", "/workspace/note"])
    assert (again.exit_code, again.output) == (0, b"kept\n")


def test_a_new_session_replaces_what_a_crashed_one_left(backend: Harness) -> None:
    who = user("crash")
    db = companion("db")
    backend.runtime.start_session(backend.spec(who, companions=(db,), session="s1"))
    second = backend.spec(who, companions=(db,), session="s2")
    state = backend.runtime.start_session(second)
    assert backend.runtime.poll(state) == "running"
    sessions = {f.labels.get(labels.SESSION) for f in backend.runtime.find(backend.owner(who))}
    assert sessions == {second.session_id}


@pytest.mark.parametrize("kind", ["container", "network"])
def test_someone_elses_object_in_the_way_is_a_conflict_and_stays(
        backend: Harness, kind: str) -> None:
    who = user("squat")
    name = names.container_name(who, "api") if kind == "container" else \
        names.network_name(who, "api")
    backend.squat(kind, name)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        backend.runtime.start_session(backend.spec(who, workspace="/workspace"))
    assert kinds(backend, backend.owner(who)) == []
    assert backend.exists(kind, name)
    # a state naming it (a corrupt row) does not get it removed either
    stop = backend.runtime.stop_session({"container": name, "network": name},
                                        owner=backend.owner(who))
    assert stop
    assert backend.exists(kind, name)


def test_stop_by_session_labels_removes_what_an_unrecorded_start_made(
        backend: Harness) -> None:
    who = user("unrec")
    spec = backend.spec(who, companions=(companion("db"),))
    backend.runtime.start_session(spec)  # its state was never recorded (a crash)
    session = {**backend.owner(who), labels.SESSION: spec.session_id}
    assert backend.runtime.stop_session({}, owner=session) == []
    assert kinds(backend, backend.owner(who)) == []


def test_stop_and_remove_refuse_an_owner_that_does_not_name_podspawn(
        backend: Harness) -> None:
    who = user("refuse")
    spec = backend.spec(who)
    state = backend.runtime.start_session(spec)
    loose = {k: v for k, v in backend.owner(who).items() if k != labels.MANAGED_BY}
    for owner in ({}, loose):
        with pytest.raises(Conflict):
            backend.runtime.stop_session(state, owner=owner)
        for found in backend.runtime.find(backend.owner(who)):
            with pytest.raises(Conflict):
                backend.runtime.remove(found, owner=owner)
    assert backend.runtime.poll(state) == "running"
    assert len(kinds(backend, backend.owner(who))) == 2


def test_an_image_that_cannot_start_leaves_nothing_but_older_volumes(
        backend: Harness) -> None:
    who = user("broken")
    broken = backend.build("broken", f"FROM {IMAGE}\nUSER podspawn-no-such-user\n")
    owner = backend.owner(who)
    first = backend.spec(who, workspace="/workspace", session="s1")
    state = backend.runtime.start_session(first)
    assert backend.runtime.stop_session(
        state, owner={**owner, labels.SESSION: first.session_id}) == []
    before = kinds(backend, owner)
    assert before == [("volume", names.workspace_volume(who, "api"))]

    db = companion("db", volumes=(Volume(name="fresh", target="/d"),))
    with pytest.raises(RuntimeFailure):
        backend.runtime.start_session(backend.spec(who, image=broken, workspace="/workspace",
                                                   companions=(db,), session="s2"))
    assert kinds(backend, owner) == before


def test_a_missing_image_fails_clearly_and_leaves_nothing(backend: Harness) -> None:
    who = user("noimg")
    missing = f"podspawn-contract-missing/{backend.install_id}:none"
    with pytest.raises(ImageUnavailable):
        backend.runtime.start_session(backend.spec(who, image=missing, workspace="/workspace"))
    assert kinds(backend, backend.owner(who)) == []
    db = companion("db", image=missing)
    with pytest.raises(ImageUnavailable):
        backend.runtime.start_session(backend.spec(who, companions=(db,)))
    assert kinds(backend, backend.owner(who)) == []


def test_exec_runs_as_the_user_in_the_workdir_with_the_env(backend: Harness) -> None:
    who = user("exec")
    state = backend.runtime.start_session(backend.spec(who, env={"FROM_SPEC": "spec"}))
    run = backend.runtime.exec
    assert run(state, ["id", "-un"]).output == b"root\n"
    assert run(state, ["id", "-un"], user="nobody").output == b"nobody\n"
    assert run(state, ["pwd"], workdir="/tmp").output == b"/tmp\n"
    assert run(state, ["printenv", "FOO"], env={"FOO": "bar baz"}).output == b"bar baz\n"
    assert run(state, ["printenv", "FROM_SPEC"]).output == b"spec\n"
    assert run(state, ["cat"], stdin=b"fed\n").output == b"fed\n"
    assert run(state, ["false"]).exit_code == 1
    missing = run(state, ["podspawn-no-such-program"])
    assert missing.exit_code == 127
    assert b"podspawn-no-such-program" in missing.output
    assert run(state, ["id", "-un"], user="podspawn-no-such-user").exit_code == 126
    assert run(state, ["pwd"], workdir="/podspawn/no/such/dir").exit_code == 126
    with pytest.raises(RuntimeFailure):
        run({}, ["true"])


#: Room for exactly one session network; an address range nothing else here uses.
POOL = AddressPool(base="10.251.247.0/28", size=28)


def test_a_used_up_address_pool_refuses_and_leaves_nothing(backend: Harness) -> None:
    assert backend.runtime.network_headroom(POOL) == Headroom(capacity=1, used=0)
    first = backend.runtime.start_session(backend.spec(user("pool"), address_pool=POOL))
    assert backend.runtime.poll(first) == "running"
    assert backend.runtime.network_headroom(POOL) == Headroom(capacity=1, used=1)
    late = user("poollate")
    with pytest.raises(AddressSpaceExhausted) as caught:
        backend.runtime.start_session(backend.spec(late, address_pool=POOL,
                                                   workspace="/workspace"))
    assert "network.pool" in caught.value.message
    assert kinds(backend, backend.owner(late)) == []


def test_meanwhile_runs_once_in_the_running_session_container_before_the_return(
        backend: Harness) -> None:
    who = user("meanw")
    spec = backend.spec(who, companions=(backend.slow_companion("db", 0.5),))
    seen: list[tuple[str, int]] = []

    def meanwhile(started: EngineState) -> None:
        seen.append((backend.runtime.poll(started),
                     backend.runtime.exec(started, ["true"]).exit_code))

    state = backend.runtime.start_session(spec, meanwhile=meanwhile)
    assert seen == [("running", 0)]
    assert len(state["services"] or []) == 1
    assert backend.runtime.exec(state, ["getent", "hosts", "db"]).exit_code == 0


def test_an_error_of_meanwhile_leaves_nothing(backend: Harness) -> None:
    who = user("mfail")
    owner = backend.owner(who)
    spec = backend.spec(who, workspace="/workspace",
                        companions=(backend.slow_companion("db", 0.5),))

    def meanwhile(started: EngineState) -> None:
        raise RuntimeFailure("setting up the user failed")

    with pytest.raises(RuntimeFailure, match="setting up the user failed"):
        backend.runtime.start_session(spec, meanwhile=meanwhile)
    assert kinds(backend, owner) == []


def test_a_companion_failing_while_the_session_container_starts_leaves_nothing(
        backend: Harness) -> None:
    who = user("cfail")
    owner = backend.owner(who)
    missing = f"podspawn-contract-missing/{backend.install_id}:none"
    spec = backend.spec(who, workspace="/workspace",
                        companions=(companion("db"), companion("cache", image=missing)))
    ran: list[str] = []
    with pytest.raises(ImageUnavailable):
        backend.runtime.start_session(spec, meanwhile=lambda s: ran.append(str(s["container"])))
    assert kinds(backend, owner) == []
