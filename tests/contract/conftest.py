"""One contract suite for every backend: the in-memory fake always, the real engines too.

Each test gets a ``backend``: a :class:`Harness` holding the runtime under test, a fresh
installation id (so everything a test makes is found and removed by its labels), and the
few things a test must do behind the runtime's back (make a container vanish or stop, put
someone else's object in the way), done the way that engine's users would do them.

A new backend adds its name to :data:`BACKENDS` (and to :data:`REAL` when it is a real
engine whose CLI speaks Docker's verbs, as Podman's does; anything else adds a harness to
:data:`HARNESSES`); ``PODSPAWN_CONTRACT_BACKENDS=fake,docker`` picks some. Real engines
need root and a running engine, so they are marked ``e2e``, as the end-to-end tests are.
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from podspawn import labels, names
from podspawn.runtime.base import ImageRecipe, Runtime
from podspawn.runtime.spec import CompanionSpec, SessionSpec

#: Every backend the suite runs on, in order; each needs an entry in HARNESSES.
BACKENDS = ["fake", "docker", "podman"]
#: Backends that need root and a real engine (marked e2e).
REAL = {"docker", "podman"}
RUN_ID = os.environ.get("PODSPAWN_E2E_ID", "")
IMAGE = "debian:bookworm"


def selected() -> list[str]:
    wanted = os.environ.get("PODSPAWN_CONTRACT_BACKENDS", "")
    chosen = [b.strip() for b in wanted.split(",") if b.strip()] or BACKENDS
    unknown = set(chosen) - set(HARNESSES)
    if unknown:
        raise pytest.UsageError(f"PODSPAWN_CONTRACT_BACKENDS names unknown backends "
                                f"{sorted(unknown)}; use some of {BACKENDS}")
    return chosen


def user(base: str) -> str:
    """A login name of this run, apart from the end-to-end tests' users."""
    return f"ct{RUN_ID}{base}"


def companion(name: str, **values: Any) -> CompanionSpec:
    """A companion that runs until stopped (the test image has no command of its own)."""
    return CompanionSpec(name=name, image=values.pop("image", IMAGE),
                         command=("sleep", "infinity"), **values)


class Harness:
    """The runtime under test plus what a test does to its engine behind its back."""

    name = ""
    runtime: Runtime

    def __init__(self) -> None:
        self.install_id = f"contract{RUN_ID}{uuid.uuid4().hex[:10]}"
        self.tags: list[str] = []

    def spec(self, who: str, project: str = "api", *, session: str = "s1",
             **values: Any) -> SessionSpec:
        return SessionSpec(session_id=f"{session}{self.install_id[-6:]}",
                           install_id=self.install_id, user=who, project=project,
                           image=values.pop("image", IMAGE),
                           hostname=names.hostname(who, project), **values)

    def owner(self, who: str, project: str = "api") -> dict[str, str]:
        return labels.owner(self.install_id, who, project)

    def tag(self, name: str) -> str:
        tag = f"podspawn-contract{RUN_ID}/{name}:{self.install_id[-10:]}"
        self.tags.append(tag)
        return tag

    def build(self, name: str, dockerfile: str) -> str:
        tag = self.tag(name)
        self.runtime.build(ImageRecipe(tag=tag, dockerfile=dockerfile))
        return tag

    def slow_companion(self, name: str, seconds: float) -> CompanionSpec:
        """A companion that becomes ready only after ``seconds``."""
        raise NotImplementedError

    def failing_step(self, text: str, code: int) -> None:
        """Arrange that a build step ``RUN ... text`` exits ``code`` (a real engine runs it)."""

    def vanish(self, name: str) -> None:
        raise NotImplementedError

    def halt(self, name: str) -> None:
        raise NotImplementedError

    def squat(self, kind: Literal["container", "network"], name: str) -> None:
        """Someone else's object of ``name``, without podspawn's labels."""
        raise NotImplementedError

    def exists(self, kind: Literal["container", "network"], name: str) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        """Remove everything this test made (found by the installation id)."""


class FakeHarness(Harness):
    name = "fake"

    def __init__(self) -> None:
        from podspawn.runtime.fake import FakeRuntime

        super().__init__()
        self.fake = FakeRuntime()
        self.fake.add_image(IMAGE)
        self.runtime = self.fake

    def slow_companion(self, name: str, seconds: float) -> CompanionSpec:
        self.fake.ready_delay[name] = seconds
        return companion(name, ready="test -e /tmp/ready")

    def failing_step(self, text: str, code: int) -> None:
        self.fake.fail_step(text, code=code)

    def vanish(self, name: str) -> None:
        self.fake.vanish(name)

    def halt(self, name: str) -> None:
        self.fake.halt(name)

    def squat(self, kind: Literal["container", "network"], name: str) -> None:
        self.fake.squat(kind, name)

    def exists(self, kind: Literal["container", "network"], name: str) -> bool:
        objects = self.fake.containers if kind == "container" else self.fake.networks
        return any(o.name == name for o in objects.values())


class EngineHarness(Harness):
    """A real engine, reached through ``runtime.get_runtime`` as the services reach it, and
    changed behind its back with its own CLI (Docker's and Podman's verbs are the same)."""

    def __init__(self, name: str) -> None:
        from podspawn.runtime import get_runtime
        from tests.e2e.harness import HarnessError, ensure_docker

        super().__init__()
        self.name = self.cli = name
        try:
            if name == "docker":
                ensure_docker()
            elif self._cli("info").returncode != 0:
                raise HarnessError(f"{name} is not running: '{name} info' failed")
        except HarnessError as exc:
            pytest.fail(str(exc), pytrace=False)
        if name not in _SWEPT:
            self._sweep_earlier_runs()
            _SWEPT.add(name)
        self.runtime = get_runtime(name)
        if self.runtime.image_id(IMAGE) is None:  # a fresh machine: build it as CI does
            from podspawn.services.images import bootstrap

            bootstrap(runtime=self.runtime, image=IMAGE)
        self.squatted = f"podspawn-contract={self.install_id}"

    def _sweep_earlier_runs(self) -> None:
        """Remove what an earlier run of this suite left (it was killed, or the engine went
        away before its teardown): its names are this run's, so it would be in the way."""
        mine = f"contract{RUN_ID}"
        for kind, listing in (("container", ["ps", "-a"]), ("network", ["network", "ls"]),
                              ("volume", ["volume", "ls"])):
            rows = self._cli(*listing, "--filter", f"label={labels.INSTANCE}", "--format",
                             f'{{{{.{"Name" if kind == "volume" else "ID"}}}}} '
                             f'{{{{.Label "{labels.INSTANCE}"}}}}').stdout.split("\n")
            stale = [row.split()[0] for row in rows if len(row.split()) == 2
                     and row.split()[1].startswith(mine)
                     and row.split()[1][len(mine):].isalnum()
                     and len(row.split()[1]) == len(mine) + 10]
            if stale:
                self._cli(*(["rm", "-f"] if kind == "container" else [kind, "rm"]), *stale)

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.cli, *args], capture_output=True, text=True, check=False)

    def slow_companion(self, name: str, seconds: float) -> CompanionSpec:
        return CompanionSpec(
            name=name, image=IMAGE, ready="test -e /tmp/ready",
            command=("sh", "-c", f"sleep {seconds}; touch /tmp/ready; exec sleep infinity"))

    def vanish(self, name: str) -> None:
        assert self._cli("rm", "-f", name).returncode == 0

    def halt(self, name: str) -> None:
        assert self._cli("stop", "-t", "0", name).returncode == 0

    def squat(self, kind: Literal["container", "network"], name: str) -> None:
        if kind == "container":
            made = self._cli("create", "--name", name, "--label", self.squatted, IMAGE,
                             "sleep", "1")
        else:
            made = self._cli("network", "create", "--label", self.squatted, name)
        assert made.returncode == 0, made.stderr

    def exists(self, kind: Literal["container", "network"], name: str) -> bool:
        return self._cli(kind, "inspect", name).returncode == 0

    def close(self) -> None:
        for label in (f"{labels.INSTANCE}={self.install_id}", self.squatted):
            ids = self._cli("ps", "-aq", "--filter", f"label={label}").stdout.split()
            if ids:
                self._cli("rm", "-f", *ids)
            for kind in ("network", "volume"):
                ids = self._cli(kind, "ls", "-q", "--filter", f"label={label}").stdout.split()
                if ids:
                    self._cli(kind, "rm", *ids)
        for tag in self.tags:
            self._cli("rmi", "-f", tag)
        close = getattr(getattr(self.runtime, "engine", None), "close", None)
        if close is not None:  # the SDK's connection pool
            close()


_SWEPT: set[str] = set()
#: How each backend's harness is made; a real engine with a Docker-like CLI needs none.
HARNESSES: dict[str, Callable[[], Harness]] = {
    "fake": FakeHarness,
    **{name: functools.partial(EngineHarness, name) for name in REAL},
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", [
            pytest.param(name, id=name, marks=[pytest.mark.e2e] if name in REAL else [])
            for name in selected()
        ], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = HARNESSES[request.param]()
    try:
        yield harness
    finally:
        harness.close()
