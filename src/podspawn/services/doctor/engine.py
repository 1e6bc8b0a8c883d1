"""``podspawn doctor``'s checks that ask the container engine.

The engine is asked once, before any check runs (:func:`connect`); when it does not answer,
the ``docker`` check fails and every other check here says it was not checked.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

from podspawn import inner_sshd
from podspawn.errors import PodspawnError, SetupError
from podspawn.runtime.base import Runtime
from podspawn.runtime.facts import EngineFacts
from podspawn.services.doctor.base import Check, Context, fail, ok, warn
from podspawn.services.images import layer_tag
from podspawn.services.networks import address_pool, nearly_full, session_headroom
from podspawn.services.throwaway import run_checks

#: Fewer free bridge subnets than this is a warning: each session takes one.
POOL_WARN = 10
_NOT_CHECKED = "not checked: Docker does not answer"
_START_DOCKER = "start dockerd, then run doctor again"


def connect(backend: str = "docker") -> tuple[Runtime | None, EngineFacts | None, str]:
    """(runtime, facts, "") when the engine answers, else (None, None, why not)."""
    from podspawn.runtime import get_runtime
    from podspawn.runtime.facts import engine_facts

    try:
        facts = engine_facts(backend)
        return get_runtime(backend), facts, ""
    except PodspawnError as exc:
        return None, None, str(exc.detail or exc.message).removeprefix("answer: ")


def check_docker(ctx: Context) -> Check:
    if ctx.config.runtime.backend == "podman":
        return _check_podman(ctx)
    if ctx.engine is None:
        endpoint = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return fail("docker", f"Docker does not answer at {endpoint} ({ctx.engine_error})",
                    "start dockerd (systemctl start docker, or scripts/start-services.sh), "
                    "or point DOCKER_HOST at the running engine")
    return ok("docker", f"Docker {ctx.engine.version} answers at {ctx.engine.endpoint}")


def _check_podman(ctx: Context) -> Check:
    if ctx.engine is None:
        return fail("docker", f"Podman's API service does not answer ({ctx.engine_error})",
                    "start it (systemctl enable --now podman.socket, or "
                    "scripts/start-services.sh; see docs/podman.md)")
    return ok("docker", f"Podman {ctx.engine.version} answers at {ctx.engine.endpoint}")


def check_default_image(ctx: Context) -> Check:
    name, image = "default-image", ctx.config.defaults.image
    if ctx.runtime is None:
        return warn(name, _NOT_CHECKED, _START_DOCKER)
    if ctx.runtime.image_id(image) is None:
        return fail(name, f"defaults.image {image} is not on this server, so logins without "
                          "a project fail", f"run podspawn images bootstrap {image} (Debian "
                          f"or Ubuntu), or docker pull {image}, or set defaults.image to an "
                          "image that exists")
    return ok(name, f"{image} is present")


def check_project_images(ctx: Context) -> Check:
    name = "project-images"
    if ctx.runtime is None:
        return warn(name, _NOT_CHECKED, _START_DOCKER)
    projects = ctx.config.projects
    missing = sorted(p for p, entry in projects.items()
                     if not ctx.runtime.image_id(str(entry.get("image_tag", "")) or "-"))
    if missing:
        return fail(name, "projects whose image is missing: " + ", ".join(missing),
                    "rebuild each with podspawn update-project NAME")
    return ok(name, f"all {len(projects)} project image(s) present" if projects
              else "no projects registered")


def check_address_pools(ctx: Context) -> Check:
    name = "address-pools"
    if ctx.engine is None:
        return warn(name, _NOT_CHECKED, _START_DOCKER)
    pool = address_pool(ctx.config)
    room, _ = session_headroom(ctx.config, ctx.engine)
    if pool is not None:
        message = (f"{room.left} of {room.capacity} session subnets free in network.pool "
                   f"{pool.base} (/{pool.size} each; {ctx.engine.podspawn_networks} "
                   "podspawn network(s))")
        fix = ("widen network.pool, or raise network.subnet_size for smaller subnets, in "
               "/etc/podspawn/config.yaml")
        low = nearly_full(room)
    else:
        message = (f"{room.left} of {room.capacity} bridge subnets free in "
                   f"{ctx.engine.pools_source} ({ctx.engine.podspawn_networks} podspawn "
                   "network(s); each session takes one)")
        fix = ("set network.pool in /etc/podspawn/config.yaml (for example 198.18.0.0/15) so "
               "sessions stop using Docker's default pools")
        low = room.left < POOL_WARN
    if room.left <= 0:
        return fail(name, message + ": the next new session cannot get a network", fix)
    if low:
        return warn(name, message, fix)
    return ok(name, message)


def check_pod_sshd(ctx: Context) -> Check:
    """The ``.pod`` tunnel's sshd accepts its config in the default image's podspawn layer."""
    name = "pod-sshd"
    if ctx.runtime is None:
        return warn(name, _NOT_CHECKED, _START_DOCKER)
    base_id = ctx.runtime.image_id(ctx.config.defaults.image)
    if base_id is None:
        return warn(name, "not checked: the default image is missing (see default-image)",
                    "provide the default image first")
    tag = layer_tag(base_id)
    if ctx.runtime.image_id(tag) is None:
        return warn(name, f"not checked: {tag}, the podspawn layer of "
                          f"{ctx.config.defaults.image}, is not built yet",
                    "nothing to do: the first login without a project builds it; run doctor "
                    "again after that")
    env = inner_sshd.start_env(user="podspawn-doctor", authorized_keys="",
                               host_key=_scratch_host_key())
    [result] = run_checks(ctx.runtime, tag, [inner_sshd.check_command()], env=env)
    if result.exit_code != 0:
        said = result.output.decode("utf-8", "replace").strip().splitlines()
        return fail(name, f"sshd in {tag} rejects the .pod config: "
                          f"{said[-1] if said else f'exit status {result.exit_code}'}",
                    f"remove the layer with docker rmi {tag} so the next login rebuilds it")
    return ok(name, f"sshd in {tag} accepts the .pod tunnel's config")


def _scratch_host_key() -> str:
    """A host key made for this one check and thrown away (never a user's pod key)."""
    with tempfile.TemporaryDirectory(prefix="podspawn-doctor-") as scratch:
        path = os.path.join(scratch, "key")
        try:
            made = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                                  capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise SetupError("ssh-keygen is missing; install openssh-client") from None
        if made.returncode != 0:
            raise SetupError(f"ssh-keygen failed: {made.stderr.strip()[:200]}")
        with open(path, encoding="utf-8") as fh:
            return fh.read()
