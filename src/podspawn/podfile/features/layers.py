"""The image a devcontainer's Features make: one layer per Feature over the base.

``podspawn/features:<digest>`` is built ``FROM`` the devcontainer's base (its ``image``, or
the image its ``build`` makes) and becomes the Podfile's ``base``, so the project image and
its tag cover it. Its Dockerfile, as the spec's implementation notes describe:

1. ``USER root`` and the uid-1000 account the project image uses (made here already, so
   ``_REMOTE_USER`` names a real account with a home);
2. one ``COPY`` of every Feature's folder to ``/tmp/podspawn-features/NN-id``, each with its
   ``devcontainer-features.env`` (the options, :mod:`.options`);
3. per Feature, in install order: an ``ENV`` with its ``containerEnv`` (before its script,
   so a later Feature sees it), then one ``RUN`` that sources the options, sets
   ``_REMOTE_USER``, ``_REMOTE_USER_HOME``, ``_CONTAINER_USER`` and ``_CONTAINER_USER_HOME``
   (both the uid-1000 account: in podspawn the session's processes run as that user) and
   runs ``install.sh`` as root;
4. the copies removed, and when a Feature has an ``entrypoint``, an ``ENTRYPOINT`` script
   that runs each one in order, then ``exec "$@"`` (the session's own command).

The tag's digest covers the base, this Dockerfile and each Feature's content digest, so a
change to a Feature's files, its options or the order gives a new image.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podspawn.names import image_name
from podspawn.podfile.devcontainer import command_script, join_phases
from podspawn.podfile.features.metadata import HOOK_KEYS, FeatureMetadata
from podspawn.podfile.features.options import env_file
from podspawn.podfile.features.refs import FeatureRef
from podspawn.podfile.recipe import BUILD_USER_STEP, env_step

#: Bumped when the Dockerfile for the same Features changes, so images get new tags.
LAYERS_VERSION = "1"
#: Where Features are copied for their install step (removed afterwards).
STAGE_DIR = "/tmp/podspawn-features"
#: The context folder holding the Features, and the script running one.
CONTEXT_DIR = "features"
RUN_FILE = "podspawn-run-feature.sh"
ENTRYPOINT_FILE = "podspawn-feature-entrypoint.sh"
ENTRYPOINT_PATH = f"/usr/local/share/podspawn/{ENTRYPOINT_FILE}"
#: The options file the spec names, written into each staged Feature.
ENV_FILE = "devcontainer-features.env"

_SAFE = re.compile(r"[^a-z0-9._-]+")

RUN_SCRIPT = f"""\
set -e
cd "{STAGE_DIR}/$1"
_user=$(getent passwd 1000 | cut -d: -f1)
_home=$(getent passwd 1000 | cut -d: -f6)
set -a
. ./{ENV_FILE}
_REMOTE_USER=$_user
_REMOTE_USER_HOME=$_home
_CONTAINER_USER=$_user
_CONTAINER_USER_HOME=$_home
set +a
chmod +x ./install.sh
echo "podspawn: installing feature $1"
./install.sh
"""


@dataclass(frozen=True, slots=True)
class ResolvedFeature:
    """A Feature fetched, checked and ready to install."""

    ref: FeatureRef
    meta: FeatureMetadata
    digest: str
    """``sha256:<hex>`` of the OCI manifest or the tarball; ``local:<hex>`` of a folder."""
    folder: str
    """The host folder holding its files (the cache, or the checkout)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The options as ``install.sh`` sees them."""

    @property
    def stage_name(self) -> str:
        return _SAFE.sub("-", self.meta.id.lower()).strip("-") or "feature"


@dataclass(frozen=True, slots=True)
class FeaturePlan:
    """The Features of a devcontainer, in install order, over ``base``."""

    base: str
    features: tuple[ResolvedFeature, ...]

    def folder_name(self, index: int) -> str:
        return f"{index + 1:02d}-{self.features[index].stage_name}"

    def dockerfile(self) -> str:
        steps = [f"FROM {self.base}", "USER root", BUILD_USER_STEP,
                 f"COPY {CONTEXT_DIR}/ {STAGE_DIR}/"]
        for index, feature in enumerate(self.features):
            if feature.meta.container_env:
                steps.append(env_step(feature.meta.container_env))
            steps.append(f"RUN sh {STAGE_DIR}/{RUN_FILE} {self.folder_name(index)}")
        steps.append(f"RUN rm -rf {STAGE_DIR}")
        if self.entrypoints:
            steps += [f"COPY {ENTRYPOINT_FILE} {ENTRYPOINT_PATH}",
                      f'ENTRYPOINT ["/bin/sh", "{ENTRYPOINT_PATH}"]']
        return "\n".join(steps) + "\n"

    @property
    def entrypoints(self) -> list[str]:
        return [f.meta.entrypoint for f in self.features if f.meta.entrypoint.strip()]

    def entrypoint_script(self) -> str:
        return "".join(f"{line}\n" for line in self.entrypoints) + 'exec "$@"\n'

    def env_files(self) -> dict[str, str]:
        """Folder name -> its ``devcontainer-features.env`` text."""
        return {self.folder_name(i): env_file(f.env) for i, f in enumerate(self.features)}

    @property
    def digest(self) -> str:
        """12 hex digits over everything the image is made of."""
        data = {"version": LAYERS_VERSION, "dockerfile": self.dockerfile(),
                "run": RUN_SCRIPT, "entrypoint": self.entrypoint_script(),
                "features": [[f.ref.key, f.digest, dict(f.env)] for f in self.features]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return image_name("features", self.digest)


def lifecycle(config: Mapping[str, Any], features: Sequence[ResolvedFeature]
              ) -> tuple[str | None, str | None]:
    """(``on_create``, ``on_start``) with the Features' hooks: for each hook in a container's
    life, every Feature's command in install order, then the devcontainer.json's own, each
    only if the one before succeeded (as the spec orders them).

    Raises:
        PodfileError: a command has none of the three forms.
    """
    phases: list[str | None] = []
    for keys in (HOOK_KEYS[:3], HOOK_KEYS[3:]):
        scripts = []
        for key in keys:
            values = [(f"feature {f.ref.key} {key}", f.meta.hooks[key])
                      for f in features if key in f.meta.hooks]
            if key in config:
                values.append((key, config[key]))
            for name, value in values:
                script = command_script(value, key=name)
                if script is not None:
                    scripts.append(script)
        phases.append(join_phases(scripts))
    return phases[0], phases[1]
