"""A validated Podfile and where it came from, apart from the loader that makes one, so a
login that reads a stored Podfile imports the model and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from podspawn.podfile.build_context import BuildSpec
    from podspawn.podfile.features.layers import FeaturePlan
    from podspawn.podfile.model import Podfile


@dataclass(frozen=True, slots=True)
class LoadedPodfile:
    """A validated Podfile and where it came from."""

    podfile: Podfile
    origin: Literal["podfile", "devcontainer"]
    sources: tuple[str, ...]
    """Display names of the files involved: the project's own first, then each base."""
    warnings: tuple[str, ...] = ()
    """Sentences worth showing (an ignored second Podfile, devcontainer keys not used)."""
    build: BuildSpec | None = None
    """How the base image is built (a devcontainer ``build``): ``podfile.base`` is then
    ``podspawn/build:<digest>`` of its Dockerfile and context (or the Features' base)."""
    features: FeaturePlan | None = None
    """A devcontainer's Features (``services.features``): ``podfile.base`` is then
    ``podspawn/features:<digest>``, built over ``features.base``."""

    @property
    def content_hash(self) -> str:
        """The 12-hex-digit hash of the resolved Podfile (:func:`recipe.content_hash`)."""
        from podspawn.podfile.recipe import content_hash

        return content_hash(self.podfile)

    def image_tag(self, project: str) -> str:
        """``podspawn/<project>:podfile-<hash>``: the same tag for add- and update-project."""
        from podspawn.podfile.recipe import image_tag

        return image_tag(project, self.content_hash)
