"""services/binds: which host paths a service may bind, decided on a real directory tree.

Only the decisions are tested here (the walk needs no privilege); the mounts themselves, the
race and the attack through a real service are in tests/e2e/test_binds.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podspawn import labels
from podspawn.config.schema import ServerConfig
from podspawn.errors import InvalidName, PodfileError, RuntimeFailure
from podspawn.names import bind_mount_name, bind_staging_name, parse_bind_staging_name
from podspawn.podfile import validate
from podspawn.runtime.base import Mount
from podspawn.runtime.container_runtime import companion_container
from podspawn.runtime.docker import _mount
from podspawn.runtime.spec import Bind, SessionSpec
from podspawn.services import binds
from podspawn.services.companions import check_binds, companion_spec

SESSION = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``root/`` with a real ``a/x``, a file, a link to ``/`` and a link that stays inside."""
    root = tmp_path / "root"
    (root / "a" / "x").mkdir(parents=True)
    (root / "a" / "file").write_text("f")
    (root / "a" / "up").symlink_to("/")
    (root / "a" / "inside").symlink_to("x")
    (root / "linked").symlink_to(root / "a")
    return root


def refused(source: str, roots: list[str]) -> str:
    with pytest.raises(binds.Refused) as caught:
        binds.check(source, roots)
    return caught.value.reason


def test_a_real_directory_is_opened_as_itself(tree: Path) -> None:
    fd = binds.open_source(f"{tree}/a/x", [str(tree)])
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == f"{tree}/a/x"
    finally:
        os.close(fd)
    binds.check(str(tree), [str(tree)])  # the root itself


@pytest.mark.parametrize(("below", "reason"), [
    ("a/up", "passes through a symbolic link (a/up)"),
    ("a/up/etc", "passes through a symbolic link (a/up)"),
    ("a/inside", "passes through a symbolic link (a/inside)"),  # even one that stays inside
    ("linked/x", "passes through a symbolic link (linked)"),
    ("a/missing", "does not exist (no a/missing under the allowed root)"),
    ("a/missing/deeper", "does not exist (no a/missing under the allowed root)"),
    ("a/file", "is not a directory (a/file)"),
])
def test_refusals_name_the_component(tree: Path, below: str, reason: str) -> None:
    assert refused(f"{tree}/{below}", [str(tree)]) == reason


def test_outside_every_root_and_a_missing_root(tree: Path) -> None:
    assert refused("/etc", [str(tree)]) == "is not under security.allowed_bind_roots"
    assert refused("/etc", []) == "is not under security.allowed_bind_roots"
    gone = tree / "gone"
    assert refused(f"{gone}/a", [str(gone)]).startswith(
        f"is under the allowed root {gone}, which is not a usable directory")


def test_the_admins_root_may_itself_be_a_symlink(tree: Path) -> None:
    """The configured root is the admin's, so a link in it is followed; below it, never."""
    binds.check(f"{tree}/linked/x", [f"{tree}/linked"])
    assert refused(f"{tree}/linked/up", [f"{tree}/linked"]) == \
        "passes through a symbolic link (up)"


def test_the_refusal_is_one_sentence_with_the_entry_and_the_fix(tree: Path) -> None:
    podfile = validate({"base": "b", "services": [
        {"name": "a", "image": "i", "volumes": [f"{tree}/a:/plant"]},
        {"name": "b", "image": "i", "volumes": ["data:/data", f"{tree}/a/up:/host:ro"]},
    ]})
    with pytest.raises(PodfileError) as caught:
        check_binds(podfile.services, (str(tree),))
    assert caught.value.message == (
        f"the Podfile's services.1.volumes.1 ({tree}/a/up:/host:ro) cannot be mounted: the "
        "host path passes through a symbolic link (a/up); podspawn binds only real "
        "directories, so replace the link with a directory or bind the directory it points to"
    )
    assert "\n" not in caught.value.message and caught.value.exit_code == 2
    check_binds(podfile.services[:1], (str(tree),))


@pytest.mark.parametrize(("read_only", "flags", "options"), [
    (False, 0x1000 | 0x20 | 0x2 | 0x4, "bind,remount,nosuid,nodev"),
    (True, 0x1000 | 0x20 | 0x2 | 0x4 | 0x1, "bind,remount,nosuid,nodev,ro"),
])
def test_remount_flags(read_only: bool, flags: int, options: str) -> None:
    assert binds.remount_flags(read_only) == flags
    assert binds.mount_options(read_only) == options


def test_staging_names_split_back_apart() -> None:
    name = bind_staging_name("sa_rah-1", "api", SESSION)
    assert name == f"sa_rah-1.api.{SESSION}"
    assert parse_bind_staging_name(name) == ("sa_rah-1", "api", SESSION)
    assert parse_bind_staging_name(bind_staging_name("sarah", "", SESSION)) == \
        ("sarah", "", SESSION)
    assert binds.session_staging("/var/lib/podspawn/state.db", "sarah", "api", SESSION) == \
        f"/var/lib/podspawn/binds/sarah.api.{SESSION}"
    assert bind_mount_name("db", 2) == "db.2"


@pytest.mark.parametrize("name", [
    "", "a.b", f"Sarah.api.{SESSION}", f"sarah.api.{SESSION}.x", "sarah.api.", "sarah.api.xyz",
    f"sarah.-api.{SESSION}", f"../api.{SESSION}", f"sarah.api.{SESSION.upper()}",
])
def test_foreign_staging_entries_are_not_ours(name: str) -> None:
    assert parse_bind_staging_name(name) is None


@pytest.mark.parametrize(("user", "project", "session"), [
    ("root/x", "api", SESSION), ("sarah", "a.b", SESSION), ("sarah", "api", "../x"),
    ("sarah", "api", ""), ("sarah", "api", "g" * 32),
])
def test_staging_names_refuse_bad_parts(user: str, project: str, session: str) -> None:
    with pytest.raises(InvalidName):
        bind_staging_name(user, project, session)


def test_a_service_gets_its_staged_bind_plain_and_its_volumes_labelled() -> None:
    service = validate({"base": "b", "services": [{"name": "db", "image": "i", "volumes": [
        "pgdata:/var/lib/pg:ro", "/srv/shared/seed:/seed:ro", "/srv/shared/out:/out"]}]}
    ).services[0]
    owner = labels.owner("0123456789ab", "alice", "api")
    companion = companion_spec(ServerConfig(), service)
    # the Podfile's host paths are requests: nothing mounts them but the stager's result
    assert [(b.index, b.source, b.read_only) for b in companion.binds] == [
        (1, "/srv/shared/seed", True), (2, "/srv/shared/out", False)]
    session = SessionSpec(session_id="s1", install_id="0123456789ab", user="alice",
                          project="api", image="i", hostname="h")
    staged = (Bind(source="/st/db.1", target="/seed"), Bind(source="/st/db.2", target="/out"))
    spec = companion_container(session, companion, network="n", session_labels=owner,
                               binds=staged)
    assert spec.mounts == (
        Mount(target="/var/lib/pg", source="podspawn-volume.alice.api.pgdata", type="volume",
              read_only=True, labels={**owner, labels.ROLE: "volume"}),
        # ro lives in the staging mount: an engine remount for it would drop nosuid,nodev
        Mount(target="/seed", source="/st/db.1", type="bind"),
        Mount(target="/out", source="/st/db.2", type="bind"),
    )
    unstaged = companion_container(session, companion, network="n", session_labels=owner)
    assert all(m.type == "volume" for m in unstaged.mounts)


def test_docker_sends_labels_on_volumes_only() -> None:
    """The SDK raises InvalidArgument for labels on a bind; that was a login's internal error."""
    tags = {"a": "b"}
    assert dict(_mount(Mount(target="/d", source="/st", type="bind", labels=tags))) == {
        "Target": "/d", "Source": "/st", "Type": "bind", "ReadOnly": False}
    assert dict(_mount(Mount(target="/d", source="v", type="volume", labels=tags))) == {
        "Target": "/d", "Source": "v", "Type": "volume", "ReadOnly": False,
        "VolumeOptions": {"Labels": tags}}


def test_release_of_nothing_staged_is_success(tmp_path: Path) -> None:
    assert binds.release(str(tmp_path / "never")) == []
    assert binds.release("") == []


def test_release_never_removes_contents(tmp_path: Path) -> None:
    """Were a staging mount point ever not a mount, its files are kept and reported."""
    staging = tmp_path / "binds" / bind_staging_name("sarah", "api", SESSION)
    (staging / "db.0").mkdir(parents=True)
    (staging / "db.0" / "precious").write_text("data")
    (staging / "db.1").mkdir()
    failures = binds.release(str(staging))
    assert len(failures) == 1 and failures[0].startswith(f"{staging}/db.0: ")
    assert (staging / "db.0" / "precious").read_text() == "data"
    assert not (staging / "db.1").exists()


def test_reconcile_releases_only_unkept_sessions_of_ours(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    root = Path(binds.staging_root(str(db)))
    kept, gone = (bind_staging_name("sarah", "api", s) for s in (SESSION, "ab" * 16))
    for name in (kept, gone, "not-ours"):
        (root / name / "db.0").mkdir(parents=True)
    asked: list[tuple[str, str, str]] = []

    def keep(user: str, project: str, session: str) -> bool:
        asked.append((user, project, session))
        return session == SESSION

    assert binds.reconcile(str(db), keep) == 1
    assert sorted(asked) == [("sarah", "api", SESSION), ("sarah", "api", "ab" * 16)]
    assert sorted(os.listdir(root)) == sorted([kept, "not-ours"])


@pytest.mark.parametrize("unsafe", ["open", "symlink"])
def test_staging_refuses_a_directory_others_could_change(tree: Path, tmp_path: Path,
                                                         unsafe: str) -> None:
    """Nothing is mounted under a staging root that someone else could redirect."""
    root = Path(binds.staging_root(str(tmp_path / "state" / "state.db")))
    root.parent.mkdir()
    if unsafe == "open":
        root.mkdir(mode=0o777)
        root.chmod(0o777)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        root.symlink_to(tmp_path / "elsewhere")
    policy = binds.BindPolicy(roots=(str(tree),), staging=str(root / "sarah.api.ab"))
    with pytest.raises(RuntimeFailure, match="is not a private directory of podspawn's"):
        binds.stage(f"{tree}/a/x", policy=policy, name="db.0", read_only=False)
    assert not (root / "sarah.api.ab" / "db.0").exists()
