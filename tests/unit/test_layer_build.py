"""Every image build runs under the build limits, the podspawn layer's too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from podspawn.config.schema import ImagesConfig, ServerConfig
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
                       limits=build_limits(config, "layer"))
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
                 limits=build_limits(config, "layer"))
    assert len(runtime.recipes) == 1  # built once
