"""Named machines' pure parts: what create and run refuse, records, the on_create marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from podspawn.errors import InvalidName, UsageError
from podspawn.services.local import machines, workspace


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PODSPAWN_LOCAL_STATE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("image", "project", "branch", "needle"), [
    ("", "", "feature", "--branch requires --project"),
    ("debian:bookworm", "/src/repo", "", "exclude each other"),
])
def test_create_and_run_refuse_contradictory_flags(image: str, project: str, branch: str,
                                                   needle: str) -> None:
    with pytest.raises(UsageError) as caught:
        machines.check_request("m", image=image, project=project, branch=branch)
    assert needle in caught.value.message and caught.value.message.count(".") <= 1


@pytest.mark.parametrize("name", ["../x", "a b", "x/y", "-x", ""])
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        machines.check_request(name, image="", project="", branch="")


def test_a_valid_request_passes() -> None:
    machines.check_request("m-1", image="", project="/src/repo", branch="main")


def test_records_round_trip_and_are_listed_by_name(state: Path) -> None:
    assert machines.find_machine("b") is None and machines.all_machines() == []
    b = machines.Machine(name="b", project="/r", branch="main", workspace="/w/b",
                         created_at=1.0)
    a = machines.Machine(name="a", image="debian:bookworm", status="preserved")
    machines._save(b)
    machines._save(a)
    assert machines.find_machine("b") == b
    assert [m.name for m in machines.all_machines()] == ["a", "b"]
    machines._forget("a")
    assert machines.find_machine("a") is None
    assert not list((state / "machines").glob("*.tmp"))


def test_on_create_marker_is_per_checkout_and_per_script(state: Path) -> None:
    root = str(state)
    assert not workspace.on_create_done(root, "/home/u/app", "npm install")
    workspace._mark(root, "/home/u/app", "npm install")
    assert workspace.on_create_done(root, "/home/u/app", "npm install")
    assert not workspace.on_create_done(root, "/home/u/other", "npm install")
    assert not workspace.on_create_done(root, "/home/u/app", "npm ci")  # script changed
    workspace.forget_on_create(root, "/home/u/app")
    workspace.forget_on_create(root, "/home/u/app")  # gone twice is fine
    assert not workspace.on_create_done(root, "/home/u/app", "npm install")


def test_the_copy_archive_keeps_links_as_links(tmp_path: Path) -> None:
    import io
    import tarfile

    src = tmp_path / "src"
    (src / ".git").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "out").symlink_to("/etc/passwd")
    with tarfile.open(fileobj=io.BytesIO(workspace._archive(str(src)))) as tar:
        names = {m.name: m for m in tar}
    assert set(names) == {".git", "a.txt", "out"}
    assert names["out"].issym() and names["out"].linkname == "/etc/passwd"
