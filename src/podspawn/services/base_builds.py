"""The base image a devcontainer ``build`` section describes, built on the server.

The Dockerfile comes from the repository, so it is untrusted: it builds through the same
runtime call and under the same limits (``images.build_memory``, ``images.build_pids``) as
every project build, from a copy of its context that holds only what the ``.dockerignore``
lets through, with no host mount (the builder has none to give). The copy is hashed again
before the build, so the image is exactly what its tag ``podspawn/build:<digest>`` names.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from podspawn import log
from podspawn.errors import PodfileError
from podspawn.names import image_name
from podspawn.podfile.build_context import (
    DOCKERFILE_NAME,
    BuildSpec,
    context_digest,
    read_dockerfile,
    stage_context,
)
from podspawn.runtime.base import BuildLimits, BuildOptions, ImageRecipe, Runtime

__all__ = ["ensure_built_base"]


def ensure_built_base(
    runtime: Runtime,
    *,
    project: str,
    spec: BuildSpec,
    checkout: str,
    tag: str,
    limits: BuildLimits,
    on_output: Callable[[str], None] | None = None,
) -> str:
    """``tag`` (the loaded Podfile's base), built from ``checkout`` unless present.

    Raises:
        PodfileError: the checkout no longer hashes to ``tag``.
        RuntimeFailure, BuildLimitReached: the build failed.
    """
    if runtime.image_id(tag):
        return tag
    dockerfile = read_dockerfile(checkout, spec)
    with tempfile.TemporaryDirectory(prefix="podspawn-build-") as staged:
        stage_context(checkout, spec, staged)
        copy = BuildSpec(dockerfile=spec.dockerfile, context=".", args=spec.args,
                         target=spec.target, dockerfile_key=spec.dockerfile_key,
                         context_key=spec.context_key)
        if image_name("build", context_digest(staged, copy, dockerfile)) != tag:
            raise PodfileError(f"the build context of project {project} changed while it was "
                               "read; run the command again")
        log.info("building base image", project=project, tag=tag,
                 dockerfile=spec.dockerfile, context=spec.context)
        runtime.build(ImageRecipe(
            tag=tag,
            dockerfile=dockerfile,
            labels={"managed-by": "podspawn", "podspawn-project": project,
                    "podspawn-build": tag.rsplit(":", 1)[1]},
            limits=limits,
            options=BuildOptions(context=staged, dockerfile_name=DOCKERFILE_NAME,
                                 build_args=spec.args, target=spec.target),
        ), on_output=on_output)
    return tag
