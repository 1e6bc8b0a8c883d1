"""Images: the podspawn layer every session image gets, and Debian base images by debootstrap.

A session needs a few things from its image that a stock base lacks: ``sudo`` for the
passwordless sudo users are promised, ``sftp-server`` and ``scp`` for file transfer, ``rsync``,
and ``sshd`` for the ``.pod`` path. podspawn builds them once per base image into
``podspawn/base:<hash>``, named by the base image's id and the layer recipe, so a changed base
or recipe gets a new tag and the old one is simply no longer used.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from podspawn import labels, log
from podspawn.errors import BuildLimitReached, ImageUnavailable, SetupError, UsageError
from podspawn.locks import file_lock, lock_path
from podspawn.names import image_name
from podspawn.runtime.base import BuildLimits, ImageRecipe, Runtime

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig

LAYER_VERSION = "1"
LAYER_SCRIPT = r"""set -e
need=""
command -v sudo >/dev/null 2>&1 || need="$need sudo"
[ -x /usr/lib/openssh/sftp-server ] || need="$need openssh-sftp-server"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v scp >/dev/null 2>&1 || need="$need openssh-client"
command -v rsync >/dev/null 2>&1 || need="$need rsync"
if [ -n "$need" ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "podspawn: this base image has no apt-get; install$need in it first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends $need
  rm -rf /var/lib/apt/lists/*
fi
rm -f /etc/ssh/ssh_host_*
mkdir -p /run/sshd
"""

Progress = Callable[[str], None]


def layer_tag(base_id: str) -> str:
    digest = hashlib.sha256(f"{base_id}\0{LAYER_VERSION}\0{LAYER_SCRIPT}".encode()).hexdigest()
    return image_name("layer", digest[:12])


def ensure_base(runtime: Runtime, ref: str) -> str:
    """The id of base image ``ref``, pulling it if it is not local.

    Raises:
        ImageUnavailable: neither present nor pullable; the log names the fix.
    """
    found = runtime.image_id(ref)
    if found:
        return found
    try:
        return runtime.pull(ref)
    except ImageUnavailable:
        log.error(
            "image missing and cannot be pulled", image=ref,
            fix=f"podspawn images bootstrap {ref}",
        )
        raise ImageUnavailable(
            f"the image {ref} for your environment is not available on this server; "
            "please ask an administrator to provide it",
            detail=f"fix with: podspawn images bootstrap {ref}",
        ) from None


def build_limits(config: ServerConfig, name: str) -> BuildLimits:
    """The memory and process limits of every image build (``images.build_*``): a project's
    and the podspawn layer's alike, so no build can starve the host. ``name`` names the
    build's cgroup; the caller holds the lock of that name."""
    from podspawn.units import parse_memory

    return BuildLimits(memory=parse_memory(config.images.build_memory),
                       pids=config.images.build_pids, name=name)


def limit_key(config: ServerConfig, limit: str) -> tuple[str, str, str]:
    """(what, key, value) of the build limit a runtime reported as reached, in the admin's
    terms: ``("memory", "images.build_memory", "4g")``."""
    if limit == "memory":
        return "memory", "images.build_memory", config.images.build_memory
    return "processes", "images.build_pids", str(config.images.build_pids)


def timed_build(runtime: Runtime, recipe: ImageRecipe, *, kind: str, db_path: str,
                on_output: Callable[[str], None] | None = None) -> str:
    """``runtime.build(recipe)``, with its duration stored in the state database at
    ``db_path`` (``image_build`` timings labelled ``kind``, then ``:ok`` or ``:failed``), so
    the metrics daemon's histogram sees builds made by any process: a login, add-project.
    An empty ``db_path`` records nothing.
    """
    import time

    began = time.monotonic()
    outcome = "failed"
    try:
        image_id = runtime.build(recipe, on_output=on_output)
        outcome = "ok"
        return image_id
    finally:
        if db_path:
            _record_build(db_path, f"{kind}:{outcome}", time.monotonic() - began)


def _record_build(db_path: str, label: str, seconds: float) -> None:
    from podspawn.errors import StateError
    from podspawn.state.db import open_db
    from podspawn.state.timings import IMAGE_BUILD, record_timing

    try:
        conn = open_db(db_path)
    except StateError as exc:
        log.warning("image build time not recorded", error=exc.detail or exc.message)
        return
    try:
        record_timing(conn, IMAGE_BUILD, seconds, label)
    finally:
        conn.close()


def ensure_layer(
    runtime: Runtime, base_ref: str, *, lock_dir: str, progress: Progress | None = None,
    config: ServerConfig | None = None,
) -> str:
    """The tag of ``base_ref`` plus the podspawn layer, building it once if needed, at most
    one build of one layer at a time, under ``config``'s :func:`build_limits` (none without
    a config).

    Raises:
        ImageUnavailable: the base image is missing and cannot be pulled.
        RuntimeFailure: the build failed.
        BuildLimitReached: the build needed more than ``images.build_*`` allow.
    """
    base_id = ensure_base(runtime, base_ref)
    tag = layer_tag(base_id)
    if runtime.image_id(tag):
        return tag
    digest = tag.rsplit(":", 1)[1]
    with file_lock(lock_path(lock_dir, "image", digest), timeout=1800):
        if runtime.image_id(tag):  # built by a concurrent login while we waited
            return tag
        if progress:
            progress(f"Preparing environment image from {base_ref} (first time only)...")
        from podspawn.podfile.recipe import LAYER_FILE, layer_dockerfile  # a build: rare

        log.info("building layer image", base=base_ref, tag=tag)
        try:
            timed_build(runtime, ImageRecipe(
                tag=tag,
                dockerfile=layer_dockerfile(base_id),
                labels=labels.for_image(base=base_ref),
                files={LAYER_FILE: LAYER_SCRIPT.encode()},
                # named for this layer's lock: another layer may build at the same time
                limits=build_limits(config, f"layer-{digest}") if config else None,
            ), kind="layer", db_path=config.state.db_path if config else "")
        except BuildLimitReached as exc:
            if config is None:
                raise
            what, key, value = limit_key(config, exc.limit)
            raise BuildLimitReached(
                f"the environment image from {base_ref} could not be prepared: its build "
                f"needed more {what} than an image build may use ({key}: {value}); an "
                f"administrator must raise {key}",
                limit=exc.limit, step=exc.step, detail=exc.message,
            ) from exc
    return tag


# -- debootstrap ------------------------------------------------------------------------

_UBUNTU = {"20.04": "focal", "22.04": "jammy", "24.04": "noble"}
_DEBIAN = {"11": "bullseye", "12": "bookworm", "13": "trixie"}


def suite_for(image: str) -> tuple[str, str]:
    """(distribution, suite) for an image name such as ``debian:bookworm`` or ``ubuntu:24.04``.

    Raises:
        UsageError: not a Debian or Ubuntu image name debootstrap can build.
    """
    name, _, version = image.partition(":")
    if not re.fullmatch(r"[a-z0-9._-]+", version or "x"):
        raise UsageError(f"invalid image tag in {image!r}")
    if name == "debian":
        return "debian", _DEBIAN.get(version, version or "bookworm")
    if name == "ubuntu":
        return "ubuntu", _UBUNTU.get(version, version or "noble")
    raise UsageError(
        f"cannot bootstrap {image!r}: only debian:<suite> and ubuntu:<version> images can be "
        "built with debootstrap"
    )


def host_mirror() -> str:
    """The first Debian mirror the host's own apt uses."""
    sources = "/etc/apt/sources.list.d/debian.sources"
    try:
        with open(sources, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("URIs:"):
                    return line.split()[1]
    except OSError:
        pass
    try:
        with open("/etc/apt/sources.list", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "deb":
                    return parts[1]
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def bootstrap(
    *, runtime: Runtime, image: str, mirror: str = "", progress: Progress | None = None
) -> str:
    """Build ``image`` from scratch with debootstrap and import it; returns the image id.

    Raises:
        UsageError: the image name is not a Debian/Ubuntu one.
        SetupError: debootstrap is missing or failed.
    """
    distro, suite = suite_for(image)
    if distro == "ubuntu" and not mirror:
        raise UsageError(f"{image} needs an Ubuntu mirror: pass --mirror URL")
    mirror = mirror or host_mirror()
    if shutil.which("debootstrap") is None:
        raise SetupError("debootstrap is not installed; run: apt-get install -y debootstrap")
    with tempfile.TemporaryDirectory(prefix="podspawn-bootstrap-") as workdir:
        root = os.path.join(workdir, "rootfs")
        if progress:
            progress(f"debootstrap {suite} from {mirror} (about half a minute)...")
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, root, mirror],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise SetupError(f"debootstrap {suite} failed; check the mirror {mirror}:\n{tail}")
        tarball = os.path.join(workdir, "rootfs.tar")
        subprocess.run(
            ["tar", "--numeric-owner", "-C", root, "-cf", tarball, "."], check=True,
            capture_output=True,
        )
        if progress:
            progress(f"importing as {image}...")
        image_id = runtime.import_rootfs(tarball, image)
    log.info("bootstrapped base image", image=image, suite=suite, mirror=mirror)
    return image_id
