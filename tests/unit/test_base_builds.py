"""The devcontainer base build hands the runtime exactly the filtered, hashed context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import load_podfile
from podspawn.podfile.build_context import DOCKERFILE_NAME
from podspawn.runtime.base import BuildLimits, ImageRecipe
from podspawn.services.base_builds import ensure_built_base


class RecordingRuntime:
    """Only the two image calls ensure_built_base makes; records what a build would send."""

    def __init__(self, present: bool = False) -> None:
        self.present = present
        self.recipes: list[ImageRecipe] = []
        self.staged: list[str] = []

    def image_id(self, ref: str) -> str | None:
        return "sha256:x" if self.present else None

    def build(self, recipe: ImageRecipe, *, on_output: Any = None) -> str:
        self.recipes.append(recipe)
        assert recipe.options is not None
        top = recipe.options.context
        self.staged = sorted(
            os.path.relpath(os.path.join(folder, name), top)
            for folder, _dirs, files in os.walk(top) for name in files)
        return "sha256:built"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / ".devcontainer").mkdir()
    (tmp_path / ".devcontainer" / "devcontainer.json").write_text(
        '{"build": {"dockerfile": "Dockerfile", "context": "../app", "args": {"A": "1"},'
        ' "target": "dev"}}')
    (tmp_path / ".devcontainer" / "Dockerfile").write_text("FROM debian:bookworm AS dev\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.txt").write_text("one\n")
    (tmp_path / "app" / "secret.env").write_text("x\n")
    (tmp_path / "app" / ".dockerignore").write_text("*.env\n")
    (tmp_path / "README.md").write_text("outside\n")
    return tmp_path


LIMITS = BuildLimits(memory=1 << 30, pids=256, name="proj")


def test_the_build_gets_the_context_args_target_and_limits(repo: Path) -> None:
    loaded = load_podfile(repo)
    assert loaded.build is not None
    runtime = RecordingRuntime()
    tag = ensure_built_base(runtime, project="proj", spec=loaded.build, checkout=str(repo),  # type: ignore[arg-type]
                            tag=loaded.podfile.base, limits=LIMITS)
    assert tag == loaded.podfile.base
    (recipe,) = runtime.recipes
    assert recipe.tag == tag
    assert recipe.dockerfile == "FROM debian:bookworm AS dev\n"
    assert recipe.limits == LIMITS
    assert recipe.options is not None
    assert recipe.options.dockerfile_name == DOCKERFILE_NAME
    assert dict(recipe.options.build_args) == {"A": "1"}
    assert recipe.options.target == "dev"
    assert runtime.staged == [".dockerignore", "app.txt"]


def test_a_present_base_is_not_built_again(repo: Path) -> None:
    loaded = load_podfile(repo)
    assert loaded.build is not None
    runtime = RecordingRuntime(present=True)
    ensure_built_base(runtime, project="proj", spec=loaded.build, checkout=str(repo),  # type: ignore[arg-type]
                      tag=loaded.podfile.base, limits=LIMITS)
    assert runtime.recipes == []


def test_a_context_changed_after_loading_is_not_built(repo: Path) -> None:
    loaded = load_podfile(repo)
    assert loaded.build is not None
    (repo / "app" / "app.txt").write_text("swapped\n")
    runtime = RecordingRuntime()
    with pytest.raises(PodfileError, match="changed while it was read"):
        ensure_built_base(runtime, project="proj", spec=loaded.build, checkout=str(repo),  # type: ignore[arg-type]
                          tag=loaded.podfile.base, limits=LIMITS)
    assert runtime.recipes == []
