"""Turn a resolved Podfile into its image recipe (a Dockerfile), its content hash and its tag.

The recipe is deterministic text, in this order, each block after a blank line:

1. ``FROM <base>``, and ``ARG DEBIAN_FRONTEND=noninteractive`` when apt is used (an ARG, so
   it does not stay in the image's environment);
2. ``SHELL ["/bin/bash", "-euo", "pipefail", "-c"]`` when the base has bash: a Debian or
   Ubuntu base, or any base with ``packages`` (which need apt, so Debian-like). Without it,
   ``extra_commands`` run with Docker's default ``/bin/sh -c``;
3. the special runtimes, in the order listed: first one apt step with what their downloads
   need (curl, ca-certificates; gcc and libc6-dev for rust), then one ``RUN`` per runtime.
   They install system-wide under ``/usr/local``, never into a home directory, so every
   container user has them on ``PATH``:

   * ``nodejs@N``: the official tarball from ``<node_dist_url>/latest-vN.x/`` (or
     ``/vX.Y.Z/`` for an exact version), checked against its SHASUMS256.txt;
   * ``python@3.N``: the distribution's ``python3.N`` and ``python3.N-venv`` when it has them,
     else, on Ubuntu only, from the deadsnakes PPA (installing ``software-properties-common``
     first, which the Go implementation forgot);
   * ``go@X.Y[.Z]``: ``<go_dist_url>/goX.Y.Z.linux-<arch>.tar.gz`` into ``/usr/local/go``;
   * ``rust@channel``: rustup from ``<rustup_url>`` with ``RUSTUP_HOME=/usr/local/rustup`` and
     ``CARGO_HOME=/usr/local/cargo`` (world-writable, so users can add components);

4. one apt ``RUN`` with every other package, sorted, ``name=version*`` for ``name@version``,
   with ``--no-install-recommends``, then the apt lists removed;
5. one ``ENV`` with the static ``env`` variables, sorted by name. Values that use
   ``${PODSPAWN_USER}`` and the like are never baked: they differ per session;
6. ``EXPOSE`` with ``ports.expose``;
7. one ``RUN`` per ``extra_commands`` entry, last, so editing them reuses every layer above.

The Go implementation put the apt step before the runtimes while its docs said the reverse;
the runtimes come first here, as documented, since they change less often than the apt list.
It also added ``sudo`` to every apt list: here the podspawn layer that every session image
gets provides sudo and sshd (``podspawn.services.images``). The Podfile ``shell`` is the
user's login shell, set when the user is created; it does not change the recipe's ``SHELL``.

``packages`` need apt. A base podspawn knows is not Debian or Ubuntu (Alpine, Fedora,
distroless...) is refused with a :class:`~podspawn.errors.PodfileError`; a base it does not
recognise is assumed to be Debian-like, and the build reports it if apt is missing.

Every Dockerfile podspawn writes is written here: the recipe above (:func:`render_recipe`),
the project image that adds podspawn's layer, the build user, the checkout and
``on_create`` on top of it (:func:`project_dockerfile`), and the layer image over a bare
base (:func:`layer_dockerfile`). The layer's script itself lives in ``services.images``.

The image tag is ``podspawn/<project>:podfile-<hash>``, where the hash covers the resolved
Podfile (after ``extends``, defaults filled in) as canonical JSON, plus :data:`RECIPE_VERSION`.
Formatting, comments, key order and how a base was reached do not change it; any change of
content does. ``add-project``, ``update-project`` and ``prebuild`` must all take it from
:func:`content_hash`, so they agree on the tag (they did not in the Go implementation); a
login takes the tag they recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from podspawn import labels
from podspawn.errors import ConfigError, PodfileError
from podspawn.names import image_name
from podspawn.podfile.env_values import default_workspace, image_env
from podspawn.podfile.model import Podfile
from podspawn.podfile.packages import Package, parse_package

#: Bumped whenever the recipe text for the same Podfile changes, so images get new tags.
RECIPE_VERSION = "1"
#: The build context's files: podspawn's layer script and the Podfile's ``on_create``.
LAYER_FILE = "podspawn-layer.sh"
ON_CREATE_FILE = "podspawn-on-create.sh"
#: The uid-1000 account of a project image, renamed to the login name in each container.
BUILD_USER = "podspawn"
#: The step that makes it, unless the base has a uid 1000 already.
BUILD_USER_STEP = (
    "RUN getent passwd 1000 >/dev/null || "
    f"(groupadd -g 1000 {BUILD_USER} && useradd -u 1000 -g 1000 -m -s /bin/sh {BUILD_USER})"
)

_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+")
_PPA_RE = re.compile(r"ppa:[a-z0-9._-]+/[a-z0-9._-]+")
_STRICT_BASH = 'SHELL ["/bin/bash", "-euo", "pipefail", "-c"]'

#: Image names whose default flavour is Debian or Ubuntu.
_APT_IMAGES = frozenset(
    {
        "debian", "ubuntu", "buildpack-deps", "python", "node", "golang", "rust", "ruby",
        "perl", "php", "openjdk", "eclipse-temurin", "gcc", "kalilinux", "kali-rolling",
    }
)
#: Path components that mark a base without apt.
_NON_APT = frozenset(
    {
        "alpine", "fedora", "centos", "rockylinux", "almalinux", "amazonlinux", "archlinux",
        "oraclelinux", "photon", "clearlinux", "busybox", "gentoo", "voidlinux", "nixos",
        "opensuse", "leap", "tumbleweed", "chainguard", "wolfi-base", "distroless", "scratch",
        "ubi", "ubi8", "ubi9", "ubi10", "ubi-minimal", "ubi8-minimal", "ubi9-minimal", "mageia",
    }
)

Family = Literal["debian", "other", "unknown"]


@dataclass(frozen=True, slots=True)
class RecipeSettings:
    """Where the special runtimes are downloaded from; mirrors for closed networks."""

    node_dist_url: str = "https://nodejs.org/dist"
    """Node.js release directory, holding ``latest-vN.x/`` and ``vX.Y.Z/``."""
    go_dist_url: str = "https://go.dev/dl"
    """Go release directory, holding ``goX.Y.Z.linux-<arch>.tar.gz``."""
    rustup_url: str = "https://sh.rustup.rs"
    """The rustup installer script."""
    python_ppa: str = "ppa:deadsnakes/ppa"
    """The Ubuntu PPA used when the distribution lacks the requested Python."""

    def __post_init__(self) -> None:
        for name in ("node_dist_url", "go_dist_url", "rustup_url"):
            value = getattr(self, name)
            if not _URL_RE.fullmatch(value):
                raise ConfigError(f"{name} must be an http(s) URL without quotes or spaces")
        if not _PPA_RE.fullmatch(self.python_ppa):
            raise ConfigError("python_ppa must look like ppa:owner/name")


def render_recipe(podfile: Podfile, settings: RecipeSettings | None = None) -> str:
    """The Dockerfile text for ``podfile`` (see the module docstring for its layout).

    Raises:
        PodfileError: ``packages`` are listed but the base is known not to use apt.
    """
    settings = settings or RecipeSettings()
    packages = [parse_package(spec) for spec in podfile.packages]
    runtimes = [package for package in packages if package.runtime]
    apt = sorted({package.apt_argument for package in packages if not package.runtime})
    family = base_family(podfile.base)
    if packages and family == "other":
        raise PodfileError(
            f"packages need a Debian or Ubuntu base, and {podfile.base} is not one; pick such "
            "a base, or install software with extra_commands and no packages"
        )
    blocks = [f"FROM {podfile.base}"]
    if packages:
        blocks[0] += "\nARG DEBIAN_FRONTEND=noninteractive"
    if (family == "debian" or packages) and (packages or podfile.extra_commands):
        blocks.append(_STRICT_BASH)
    prerequisites = _prerequisites(runtimes)
    if prerequisites:
        blocks.append(_apt_step(prerequisites))
    if runtimes:
        blocks.extend(_runtime_step(package, settings) for package in runtimes)
    if apt:
        blocks.append(_apt_step(apt))
    static_env = image_env(podfile)
    if static_env:
        blocks.append(env_step(static_env))
    if podfile.ports.expose:
        blocks.append("EXPOSE " + " ".join(str(port) for port in podfile.ports.expose))
    blocks.extend(f"RUN {command}" for command in podfile.extra_commands)
    header = "# Image recipe generated by podspawn from the project's Podfile; edit that instead."
    return header + "\n" + "\n\n".join(blocks) + "\n"


def content_hash(podfile: Podfile) -> str:
    """12 hex digits of sha256 over the canonical JSON of the resolved Podfile.

    Canonical: every field present (defaults filled in), keys sorted, no whitespace, plus
    :data:`RECIPE_VERSION`. Lists keep their order, since install order matters.
    """
    payload = {"podfile": podfile.model_dump(mode="json"), "recipe": RECIPE_VERSION}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def image_tag(project: str, digest: str) -> str:
    """``podspawn/<project>:podfile-<digest>``, the image built for a project's Podfile.

    Raises:
        InvalidName: ``project`` is not a valid project name, or ``digest`` is not 12
            lowercase hex digits from :func:`content_hash` (both are ``ValueError``).
    """
    return image_name("project", digest, project)


def base_family(image: str) -> Family:
    """Whether ``image`` is known to be Debian-like, known not to be, or unknown.

    Judged from the reference alone (no image is pulled): the repository path and tag.
    """
    reference = image.split("@", 1)[0].lower()
    components = reference.split("/")
    last, _, tag = components[-1].partition(":")
    names = {*components[:-1], last}
    if "alpine" in tag or any(
        name in _NON_APT or name.startswith(("ubi", "distroless")) for name in names
    ):
        return "other"
    if last in _APT_IMAGES or "devcontainers" in components[:-1]:
        return "debian"
    return "unknown"


def _prerequisites(runtimes: Iterable[Package]) -> list[str]:
    needed: set[str] = set()
    for package in runtimes:
        if package.runtime in ("nodejs", "go", "rust"):
            needed |= {"ca-certificates", "curl"}
        if package.runtime == "rust":
            needed |= {"gcc", "libc6-dev"}  # cargo links with the system C toolchain
    return sorted(needed)


def _apt_step(names: Iterable[str]) -> str:
    lines = ["RUN apt-get update", "    && apt-get install -y --no-install-recommends"]
    lines += [f"        {shlex.quote(name)}" for name in names]
    lines.append("    && rm -rf /var/lib/apt/lists/*")
    return " \\\n".join(lines)


def _runtime_step(package: Package, settings: RecipeSettings) -> str:
    version = package.version or ""
    if package.runtime == "nodejs":
        folder = f"latest-v{version}.x" if "." not in version else f"v{version}"
        lines = [
            'RUN arch="$(dpkg --print-architecture)"',
            '    && case "$arch" in amd64) arch=x64 ;; armhf) arch=armv7l ;; '
            "ppc64el) arch=ppc64le ;; esac",
            f"    && base={shlex.quote(settings.node_dist_url.rstrip('/') + '/' + folder)}",
            '    && curl -fsSLo /tmp/node-sums.txt "$base/SHASUMS256.txt"',
            '    && file="$(grep -m 1 -o "node-v[0-9.]*-linux-$arch\\.tar\\.gz"'
            ' /tmp/node-sums.txt)"',
            '    && curl -fsSLo "/tmp/$file" "$base/$file"',
            '    && (cd /tmp && grep " $file\\$" node-sums.txt | sha256sum -c -)',
            '    && tar -xzf "/tmp/$file" -C /usr/local --strip-components=1 --no-same-owner'
            " --exclude='*.md' --exclude=LICENSE",
            '    && rm -f "/tmp/$file" /tmp/node-sums.txt',
            "    && node --version",
        ]
    elif package.runtime == "python":
        python = f"python{version}"
        lines = [
            "RUN apt-get update",
            f"    && if ! apt-cache show {python} >/dev/null 2>&1; then"
            " . /etc/os-release;"
            ' if [ "$ID" != ubuntu ]; then'
            f' echo "podspawn: python@{version} is not packaged for $PRETTY_NAME;'
            ' use its own Python or an Ubuntu base" >&2; exit 1; fi;'
            " apt-get install -y --no-install-recommends software-properties-common gpg-agent"
            f" && add-apt-repository -y {settings.python_ppa}"
            " && apt-get update; fi",
            f"    && apt-get install -y --no-install-recommends {python} {python}-venv",
            "    && rm -rf /var/lib/apt/lists/*",
            f"    && {python} --version",
        ]
    elif package.runtime == "go":
        url = f"{settings.go_dist_url.rstrip('/')}/go{package.go_version}.linux-$arch.tar.gz"
        lines = [
            'RUN arch="$(dpkg --print-architecture)"',
            '    && case "$arch" in armhf) arch=armv6l ;; i386) arch=386 ;; esac',
            "    && rm -rf /usr/local/go",
            f'    && curl -fsSL "{url}" | tar -xzf - -C /usr/local',
            "    && ln -sf /usr/local/go/bin/go /usr/local/go/bin/gofmt /usr/local/bin/",
            "    && go version",
        ]
    else:
        secure = "--proto '=https' --tlsv1.2 " if settings.rustup_url.startswith("https") else ""
        env = (
            "ENV RUSTUP_HOME=/usr/local/rustup \\\n"
            "    CARGO_HOME=/usr/local/cargo \\\n"
            "    PATH=/usr/local/cargo/bin:$PATH\n"
        )
        lines = [
            f"RUN curl {secure}-fsSL {shlex.quote(settings.rustup_url)}"
            " | sh -s -- -y --no-modify-path --profile minimal"
            f" --default-toolchain {version}",
            '    && chmod -R a+w "$RUSTUP_HOME" "$CARGO_HOME"',
            # Login shells reset PATH from /etc/profile; put cargo back there.
            "    && echo 'export PATH=\"/usr/local/cargo/bin:$PATH\"'"
            " > /etc/profile.d/podspawn-rust.sh",
            "    && rustc --version",
        ]
        return env + " \\\n".join(lines)
    return " \\\n".join(lines)


def env_step(env: Mapping[str, str]) -> str:
    """One ``ENV`` instruction setting ``env``, sorted by name; ``$VAR`` still expands."""
    items = [f'{key}="{_quote(env[key])}"' for key in sorted(env)]
    return "ENV " + " \\\n    ".join(items)


def _quote(value: str) -> str:
    # Inside Dockerfile double quotes, backslash escapes `"` and itself; `$VAR` still
    # expands, which is what lets `PATH=/opt/bin:$PATH` work.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _layer_steps() -> list[str]:
    return [f"COPY {LAYER_FILE} /tmp/{LAYER_FILE}",
            f"RUN sh /tmp/{LAYER_FILE} && rm -f /tmp/{LAYER_FILE}"]


def layer_dockerfile(base_ref: str) -> str:
    """The podspawn layer (sudo, sshd, sftp-server, rsync) over the base image ``base_ref``."""
    return "\n".join([f"FROM {base_ref}", *_layer_steps()]) + "\n"


def project_dockerfile(
    podfile: Podfile, project: str, settings: RecipeSettings | None = None
) -> str:
    """The recipe, then podspawn's layer, the build user, the checkout and on_create."""
    workspace = podfile.workspace or default_workspace(project)
    steps = [
        render_recipe(podfile, settings).rstrip(),
        *_layer_steps(),
        BUILD_USER_STEP,
        f'COPY --chown=1000:1000 ["workspace/", "{workspace}/"]',
    ]
    if podfile.on_create:
        steps += [
            f"COPY {ON_CREATE_FILE} /tmp/{ON_CREATE_FILE}",
            "USER 1000",
            f"WORKDIR {workspace}",
            f"RUN sh -e /tmp/{ON_CREATE_FILE}",
            "USER root",
            "WORKDIR /",
        ]
    steps.append("LABEL " + " ".join(f"{key}={value}" for key, value
                                      in labels.for_image(project=project).items()))
    return "\n".join(steps) + "\n"
