"""The build cgroup (runtime/cgroups) and how a failed build step is attributed to a limit,
against a cgroup tree laid out in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from podspawn.runtime import cgroups
from podspawn.runtime.base import BuildLimits
from podspawn.runtime.docker import _limit_reached


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for hierarchy in ("pids", "memory", "cpu"):
        (tmp_path / hierarchy).mkdir()
    (tmp_path / "pids" / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "ROOT", str(tmp_path))
    return tmp_path


def test_a_group_is_fresh_limited_and_removed_everywhere(root: Path) -> None:
    assert cgroups.supported()
    group = cgroups.make_group("api", 300)
    other = cgroups.make_group("api", 300)
    assert group.path != other.path  # a fresh one per build: pids.peak starts at zero
    assert group.path.startswith("/podspawn-build/api-")
    leaf = group.path.lstrip("/")
    assert (root / "pids" / leaf / "pids.max").read_text() == "300"
    (root / "memory" / leaf).mkdir(parents=True)  # what Docker adds for the step containers
    (root / "pids" / leaf / "pids.max").unlink()  # a real cgroup directory has no files to rm
    cgroups.remove_group(group)
    assert not (root / "pids" / leaf).exists()
    assert not (root / "memory" / leaf).exists()
    assert (root / "pids" / other.path.lstrip("/")).is_dir()


def test_a_name_that_is_not_a_cgroup_name_is_replaced(root: Path) -> None:
    assert cgroups.make_group("../../etc", 10).path.startswith("/podspawn-build/build-")


def _group(root: Path, *, peak: int | None, memory: int | None) -> cgroups.BuildGroup:
    group = cgroups.BuildGroup(path="/podspawn-build/api-1", pids=200)
    for hierarchy, name, value in (("pids", "pids.peak", peak),
                                   ("memory", "memory.max_usage_in_bytes", memory)):
        directory = root / hierarchy / "podspawn-build" / "api-1"
        directory.mkdir(parents=True, exist_ok=True)
        if value is not None:
            (directory / name).write_text(f"{value}\n")
    return group


@pytest.mark.parametrize(
    ("code", "peak", "memory", "expected"),
    [
        (2, 200, 10 << 20, "pids"),  # the step's fork failed at the limit
        (137, 200, 10 << 20, "pids"),
        (137, 12, 256 << 20, "memory"),  # killed with its memory at the limit
        (137, 12, 10 << 20, ""),  # killed, but not by the memory limit
        (137, 12, None, "memory"),  # no memory accounting: the exit code decides
        (2, 12, 256 << 20, ""),  # an ordinary failure
        (1, None, None, ""),
    ],
)
def test_which_limit_stopped_a_step(root: Path, code: int, peak: int | None,
                                    memory: int | None, expected: str) -> None:
    limits = BuildLimits(memory=256 << 20, pids=200, name="api")
    assert _limit_reached(code, limits, _group(root, peak=peak, memory=memory)) == expected


def test_without_a_group_only_the_memory_limit_is_known(root: Path) -> None:
    assert _limit_reached(137, BuildLimits(memory=1 << 30), None) == "memory"
    assert _limit_reached(137, BuildLimits(), None) == ""
    assert _limit_reached(2, BuildLimits(memory=1 << 30), None) == ""


def test_leftovers_of_a_killed_build_of_the_same_name_are_removed(root: Path) -> None:
    parent = root / "pids" / "podspawn-build"
    for leftover in ("api-0123abcd", "api-2-0123abcd", "apix-0123abcd", "api-busy0000"):
        (parent / leftover).mkdir(parents=True)
    (root / "memory" / "podspawn-build" / "api-0123abcd").mkdir(parents=True)
    group = cgroups.make_group("api", 50)
    left = sorted(p.name for p in parent.iterdir() if p.is_dir())
    # only api's own leftovers go: api-2 and apix are other projects, busy0000 is no leaf
    assert left == sorted(["api-2-0123abcd", "apix-0123abcd", "api-busy0000",
                           group.path.rsplit("/", 1)[1]])
    assert not (root / "memory" / "podspawn-build" / "api-0123abcd").exists()
