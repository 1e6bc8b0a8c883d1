"""Labels, ``find`` and ``remove``; images, builds and probes: the rest of the contract."""

from __future__ import annotations

import pytest

from podspawn import labels, names
from podspawn.errors import Conflict, ImageUnavailable, RuntimeFailure
from podspawn.runtime.base import ImageRecipe
from podspawn.runtime.spec import ProbeSpec, Volume
from tests.contract.conftest import IMAGE, Harness, companion, user


def _session(backend: Harness, who: str) -> None:
    db = companion("db", volumes=(Volume(name="data", target="/data"),))
    backend.runtime.start_session(backend.spec(who, workspace="/workspace", companions=(db,)))


def test_find_matches_labels_exactly_and_reports_each_objects_own(backend: Harness) -> None:
    short, long = user("al"), user("alice")
    _session(backend, short)
    _session(backend, long)
    found = backend.runtime.find(backend.owner(short))
    assert sorted(f.kind for f in found) == ["container", "container", "network", "volume",
                                             "volume"]
    for item in found:
        assert item.labels[labels.USER] == short  # never alice's, whose name starts alike
        assert labels.ROLE in item.labels  # the object's labels, not the query's
    roles = {f.name: f.labels[labels.ROLE] for f in found}
    assert roles[names.workspace_volume(short, "api")] == "workspace"
    assert roles[names.volume_name(short, "api", "data")] == "volume"
    assert next(f for f in found if f.labels[labels.ROLE] == "session").running
    network = next(f for f in found if f.kind == "network")
    assert network.interface == names.bridge_name(backend.install_id, network.name)
    # a label the objects lack finds nothing, whatever else matches
    assert backend.runtime.find({**backend.owner(short), "podspawn-contract-none": "x"}) == []


def test_remove_takes_only_the_owners_objects_and_gone_is_success(backend: Harness) -> None:
    mine, theirs = user("rm"), user("rmother")
    _session(backend, mine)
    _session(backend, theirs)
    before_theirs = sorted((f.kind, f.id) for f in backend.runtime.find(backend.owner(theirs)))
    found = backend.runtime.find(backend.owner(mine))
    for item in found:
        with pytest.raises(Conflict):
            backend.runtime.remove(item, owner=backend.owner(theirs))
    order = {"container": 0, "network": 1, "volume": 2}
    for item in sorted(found, key=lambda f: order[f.kind]):
        backend.runtime.remove(item, owner=backend.owner(mine))
    assert backend.runtime.find(backend.owner(mine)) == []
    for item in found:  # already gone
        backend.runtime.remove(item, owner=backend.owner(mine))
    after = sorted((f.kind, f.id) for f in backend.runtime.find(backend.owner(theirs)))
    assert after == before_theirs


def test_a_volume_in_use_is_not_removed(backend: Harness) -> None:
    who = user("inuse")
    _session(backend, who)
    volume = next(f for f in backend.runtime.find(backend.owner(who)) if f.kind == "volume")
    with pytest.raises(RuntimeFailure):
        backend.runtime.remove(volume, owner=backend.owner(who))
    assert volume.name in {f.name for f in backend.runtime.find(backend.owner(who))}


def test_image_id_and_pull_of_a_missing_image(backend: Harness) -> None:
    missing = f"podspawn-contract-missing/{backend.install_id}:none"
    assert backend.runtime.image_id(missing) is None
    assert backend.runtime.image_id("") is None
    present = backend.runtime.image_id(IMAGE)
    assert present
    assert backend.runtime.image_id(present) == present
    with pytest.raises(ImageUnavailable) as caught:
        backend.runtime.pull(missing)
    assert missing in caught.value.message


def test_build_returns_the_id_and_reports_its_steps(backend: Harness) -> None:
    tag = backend.tag("ok")
    lines: list[str] = []
    built = backend.runtime.build(
        ImageRecipe(tag=tag, dockerfile=f"FROM {IMAGE}\nUSER nobody\n",
                    labels={"podspawn-contract": "yes"}),
        on_output=lines.append)
    assert backend.runtime.image_id(tag) == built
    assert any("USER nobody" in line for line in lines)


def test_a_failing_build_step_is_named_and_leaves_no_image(backend: Harness) -> None:
    tag = backend.tag("fails")
    failing = "RUN echo podspawn-contract-step && exit 3"
    backend.failing_step("exit 3", 3)
    with pytest.raises(RuntimeFailure) as caught:
        backend.runtime.build(ImageRecipe(
            tag=tag, dockerfile=f"FROM {IMAGE}\nUSER root\n{failing}\nRUN echo never\n"))
    assert failing in caught.value.message
    assert "3" in caught.value.message.split(failing, 1)[1]
    assert backend.runtime.image_id(tag) is None


def test_probe_answers_in_order_and_leaves_nothing(backend: Harness) -> None:
    token = backend.install_id[-10:].ljust(10, "0")
    token = "".join(c if c in "0123456789abcdef" else "a" for c in token)
    check = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.CHECK: token}
    spec = ProbeSpec(image=IMAGE, name=names.check_container_name(token), labels=check)
    results = backend.runtime.probe(spec, [["echo", "one"], ["podspawn-no-such-program"],
                                           ["printenv", "X"]], env={"X": "two"})
    assert [(r.exit_code, r.output) for r in (results[0], results[2])] == [
        (0, b"one\n"), (0, b"two\n")]
    assert results[1].exit_code == 127
    assert backend.runtime.find(check) == []
    missing = ProbeSpec(image=f"podspawn-contract-missing/{token}:none", name=spec.name,
                        labels=check)
    with pytest.raises(ImageUnavailable):
        backend.runtime.probe(missing, [["true"]])
    assert backend.runtime.find(check) == []
    assert backend.runtime.sweep_probes(check) == 0
