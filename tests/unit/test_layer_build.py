"""Every image build runs under the build limits, the podspawn layer's too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from podspawn.config.schema import ImagesConfig, ServerConfig
from podspawn.errors import BuildLimitReached
from podspawn.runtime.base import ImageRecipe
from podspawn.services.images import build_limits, ensure_layer, layer_tag


class LayerRuntime:
    """Just the image calls ``ensure_layer`` makes; records each build's recipe."""

    def __init__(self) -> None:
        self.images = {"debian:bookworm": "sha256:base"}
        self.recipes: list[ImageRecipe] = []

    def image_id(self, ref: str) -> str | None:
        return self.images.get(ref)

    def pull(self, ref: str) -> str:
        raise AssertionError(f"pulled {ref}")

    def build(self, recipe: ImageRecipe, *, on_output: object = None) -> str:
        self.recipes.append(recipe)
        self.images[recipe.tag] = "sha256:layer"
        return "sha256:layer"


def test_build_limits_come_from_the_images_keys() -> None:
    config = replace(ServerConfig(), images=ImagesConfig(build_memory="1g", build_pids=300))
    limits = build_limits(config, "api")
    assert (limits.memory, limits.pids, limits.name) == (1024**3, 300, "api")


def test_the_layer_build_is_limited_and_named_for_its_own_lock(tmp_path: Path) -> None:
    runtime = LayerRuntime()
    config = replace(ServerConfig(), images=ImagesConfig(build_memory="2g", build_pids=500))
    tag = ensure_layer(runtime, "debian:bookworm", lock_dir=str(tmp_path),  # type: ignore[arg-type]
                       config=config)
    assert tag == layer_tag("sha256:base")
    [recipe] = runtime.recipes
    assert recipe.limits is not None
    assert (recipe.limits.memory, recipe.limits.pids) == (2 * 1024**3, 500)
    digest = tag.rsplit(":", 1)[1]
    # the cgroup is named like the build's lock (image.<digest>.lock), so a build of another
    # layer at the same time never removes this one's cgroup as a leftover
    assert recipe.limits.name == f"layer-{digest}"
    assert (tmp_path / f"image.{digest}.lock").exists()
    ensure_layer(runtime, "debian:bookworm", lock_dir=str(tmp_path),  # type: ignore[arg-type]
                 config=config)
    assert len(runtime.recipes) == 1  # built once


class LimitedRuntime(LayerRuntime):
    def build(self, recipe: ImageRecipe, *, on_output: object = None) -> str:
        self.recipes.append(recipe)
        raise BuildLimitReached(f"building {recipe.tag} reached its pids limit at Step 3/3",
                                limit="pids", step="Step 3/3 : RUN sh /tmp/podspawn-layer.sh")


def test_a_layer_build_over_its_limit_names_the_key(tmp_path: Path) -> None:
    runtime = LimitedRuntime()
    config = replace(ServerConfig(), images=ImagesConfig(build_pids=40))
    with pytest.raises(BuildLimitReached) as caught:
        ensure_layer(runtime, "debian:bookworm", lock_dir=str(tmp_path),  # type: ignore[arg-type]
                     config=config)
    assert caught.value.message == (
        "the environment image from debian:bookworm could not be prepared: its build needed "
        "more processes than an image build may use (images.build_pids: 40); an "
        "administrator must raise images.build_pids")
    assert caught.value.detail and "reached its pids limit" in caught.value.detail
    assert runtime.image_id(layer_tag("sha256:base")) is None
