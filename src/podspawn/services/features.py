"""A devcontainer's ``features``, resolved at add-project / update-project and built into
the base image.

A Feature is code from whoever can push to the repository or publish the Feature, run as
root in a build; so it is fetched only here (never at login), only from the sources the
admin configured, under the same build limits as every build, and what it asks of the
container is capped by the server's policy:

* ``images.features_allow`` lists the Feature ids (or prefixes ending at a ``/``) that may be
  fetched, OCI and tarball alike; a Feature outside it is refused by its name. Local folder
  Features (inside the repository's ``.devcontainer/``) need no entry: they are the
  repository's own code, like its Dockerfile. The default, an empty list, thus allows local
  Features only.
* ``capAdd`` must be among the capabilities sessions get anyway (``security.cap_add``);
  ``privileged`` and ``securityOpt`` are refused, since they would lift isolation.
* a ``bind`` mount must lie under ``security.allowed_bind_roots``; a Feature's mounts join
  the Podfile's ``volumes`` (a volume is then the user's own per project, as any other).
* ``devcontainer-lock.json`` pins digests (:mod:`podspawn.podfile.features.lockfile`).

The result replaces the Podfile's ``base`` by ``podspawn/features:<digest>`` (its Dockerfile:
:mod:`podspawn.podfile.features.layers`) and puts the Features' lifecycle hooks before the
devcontainer's own in ``on_create`` / ``on_start``.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from podspawn import log, paths
from podspawn.errors import PodfileError
from podspawn.podfile.features.layers import (
    CONTEXT_DIR,
    ENTRYPOINT_FILE,
    ENV_FILE,
    RUN_FILE,
    RUN_SCRIPT,
    FeaturePlan,
    ResolvedFeature,
    lifecycle,
)
from podspawn.podfile.features.lockfile import LockEntry, check_locked, read_lockfile
from podspawn.podfile.features.metadata import (
    INSTALL_FILE,
    METADATA_FILE,
    FeatureMetadata,
    read_metadata,
)
from podspawn.podfile.features.options import option_env
from podspawn.podfile.features.order import Node, install_order
from podspawn.podfile.features.refs import (
    FeatureRef,
    FeatureRequest,
    parse_features,
    parse_install_order,
    parse_options,
    parse_ref,
    strip_version,
)
from podspawn.services.feature_fetch import FeatureCache, fetch_oci, fetch_tarball

if TYPE_CHECKING:
    from podspawn.config.schema import ServerConfig
    from podspawn.podfile import LoadedPodfile
    from podspawn.runtime.base import BuildLimits, Runtime

#: Most Features one devcontainer may install, dependencies included.
MAX_FEATURES = 50
_DOCKERFILE = ".podspawn-features.Dockerfile"


def allowed(ref: FeatureRef, allow: Sequence[str]) -> bool:
    """Whether ``images.features_allow`` lets ``ref`` be fetched (local ones always)."""
    if ref.kind == "local":
        return True
    for entry in allow:
        item = entry.strip().lower()
        if not item:
            continue
        if ref.id == item.rstrip("/") or ref.id.startswith(item.rstrip("/") + "/"):
            return True
    return False


def check_requests(meta: FeatureMetadata, ref: FeatureRef, *, cap_add: Sequence[str],
                   bind_roots: Sequence[str]) -> None:
    """Refuse what a Feature asks of the container beyond the server's policy.

    Raises:
        PodfileError: naming the Feature and what it asked for.
    """
    name = ref.key
    if meta.privileged:
        raise PodfileError(f"feature {name!r} asks for a privileged container, which this "
                           "server never gives; remove the feature")
    if meta.security_opt:
        raise PodfileError(f"feature {name!r} asks for securityOpt {meta.security_opt[0]!r}, "
                           "which this server does not allow; remove the feature")
    granted = {cap.upper().removeprefix("CAP_") for cap in cap_add}
    for cap in meta.cap_add:
        if cap.upper().removeprefix("CAP_") not in granted:
            raise PodfileError(f"feature {name!r} asks for capability {cap!r}, which sessions "
                               "on this server do not get (security.cap_add); remove the "
                               "feature or ask the administrator")
    for mount in meta.mounts:
        fields = _mount_fields(mount, name)
        if fields.get("type", "volume") == "bind":
            _check_bind(name, fields.get("source", fields.get("src", "")), bind_roots)


def _mount_fields(mount: str | Mapping[str, Any], feature: str) -> dict[str, str]:
    if isinstance(mount, Mapping):
        return {str(k).lower(): str(v) for k, v in mount.items()}
    fields = {}
    for part in mount.split(","):
        key, sep, value = part.partition("=")
        if not key.strip():
            raise PodfileError(f"feature {feature!r}: mount {mount[:80]!r} is not "
                               "type=...,source=...,target=...")
        fields[key.strip().lower()] = value.strip() if sep else "true"  # bare ``readonly``
    return fields


def _check_bind(feature: str, source: str, roots: Sequence[str]) -> None:
    from podspawn.services import binds

    try:
        binds.check(source, roots)
    except binds.Refused as exc:
        raise PodfileError(f"feature {feature!r} bind-mounts {source[:120]!r}, which "
                           f"{exc.reason}; {exc.fix}") from None


def apply_features(config: ServerConfig, checkout: str, loaded: LoadedPodfile
                   ) -> LoadedPodfile:
    """``loaded`` with its devcontainer's Features resolved (unchanged when it has none).

    Raises:
        PodfileError: a Feature is not allowed, cannot be fetched, does not match the
            lockfile, asks for more than the policy, or the order has a cycle.
    """
    from podspawn.podfile.devcontainer import find_devcontainer, read_devcontainer

    found = find_devcontainer(checkout)
    if loaded.origin != "devcontainer" or found is None:
        return loaded
    display = os.path.relpath(found, checkout).replace(os.sep, "/")
    config_json = read_devcontainer(found, display=display)
    folder = posixpath.dirname(display) or "."
    try:
        requests = parse_features(config_json, folder=folder)
        if not requests:
            return loaded
        override = parse_install_order(config_json)
        lock = read_lockfile(found.parent, display=posixpath.join(folder,
                                                                  "devcontainer-lock.json"))
        resolver = _Resolver(config, checkout, folder, lock)
        nodes = resolver.resolve(requests)
        ordered = [resolver.features[node.key] for node in install_order(nodes, override)]
        plan = FeaturePlan(base=loaded.podfile.base, features=tuple(ordered))
        on_create, on_start = lifecycle(config_json, ordered)
        warnings: list[str] = []
        volumes = _feature_volumes(ordered, config_json, warnings)
    except PodfileError as exc:
        raise PodfileError(f"{display}: {exc.message}") from None
    podfile = loaded.podfile.model_copy(
        update={"base": plan.tag, "on_create": on_create, "on_start": on_start,
                "volumes": tuple(dict.fromkeys((*loaded.podfile.volumes, *volumes)))})
    log.info("features resolved", base=plan.base, tag=plan.tag,
             features=" ".join(f.ref.key for f in ordered))
    return replace(loaded, podfile=podfile, features=plan,
                   warnings=(*loaded.warnings, *warnings))


def _feature_volumes(ordered: Sequence[ResolvedFeature], config_json: Mapping[str, Any],
                     warnings: list[str]) -> list[str]:
    """The Features' ``mounts`` as Podfile volumes, in install order."""
    from podspawn.podfile.devcontainer_keys import mount_volume
    from podspawn.podfile.model import check_volume

    folder = config_json.get("workspaceFolder")
    volumes = []
    for feature in ordered:
        for entry in feature.meta.mounts:
            try:
                volume = mount_volume(entry, folder if isinstance(folder, str) else None, warnings)
                if volume is not None:
                    volumes.append(check_volume(volume))
            except (PodfileError, ValueError) as exc:
                reason = exc.message if isinstance(exc, PodfileError) else str(exc)
                raise PodfileError(f"feature {feature.ref.key!r}: {reason}") from None
    return volumes


class _Resolver:
    """Fetches each Feature and its ``dependsOn`` once, keyed by Feature equality."""

    def __init__(self, config: ServerConfig, checkout: str, folder: str,
                 lock: Mapping[str, LockEntry]) -> None:
        self.config = config
        self.checkout = checkout
        self.folder = folder
        self.lock = lock
        self.cache = FeatureCache(paths.features_dir(paths.state_dir(config.state.db_path)))
        self.features: dict[str, ResolvedFeature] = {}
        self.fetched: dict[str, tuple[str, str]] = {}

    def resolve(self, requests: Sequence[FeatureRequest]) -> list[Node]:
        nodes: dict[str, Node] = {}
        work = list(requests)
        while work:
            request = work.pop(0)
            key = self._one(request)
            if key in nodes:
                continue
            feature = self.features[key]
            depends = []
            for dep_key, dep_value in feature.meta.depends_on.items():
                dep = FeatureRequest(ref=parse_ref(str(dep_key), folder=self.folder),
                                     options=parse_options(dep_value, key=str(dep_key)))
                depends.append(self._one(dep))
                work.append(dep)
            namespace = feature.ref.id.rsplit("/", 1)[0] if "/" in feature.ref.id else ""
            nodes[key] = Node(
                key=key, id=feature.ref.id,
                tag=feature.ref.reference if feature.ref.kind == "oci" else "latest",
                options=request.options, canonical=feature.digest,
                aliases=tuple(f"{namespace}/{legacy.lower()}" for legacy
                              in feature.meta.legacy_ids if namespace),
                depends_on=tuple(depends),
                installs_after=tuple(strip_version(item) for item
                                     in feature.meta.installs_after),
            )
            if len(nodes) > MAX_FEATURES:
                raise PodfileError(f"more than {MAX_FEATURES} features, dependencies "
                                   "included; install fewer")
        return list(nodes.values())

    def _one(self, request: FeatureRequest) -> str:
        """The node key of ``request``, fetching and checking it the first time."""
        ref = request.ref
        if not allowed(ref, self.config.images.features_allow):
            raise PodfileError(f"feature {ref.key!r} is not in this server's allowlist "
                               "(images.features_allow); an administrator must allow it, "
                               "or remove the feature")
        if ref.key not in self.fetched:
            self.fetched[ref.key] = self._fetch(ref)
        digest, folder = self.fetched[ref.key]
        options = json.dumps(dict(request.options), sort_keys=True)
        key = f"{ref.kind}:{ref.key if ref.kind == 'local' else digest}:{options}"
        if key not in self.features:
            meta = read_metadata(os.path.join(folder, METADATA_FILE), feature=ref.key)
            if not os.path.isfile(os.path.join(folder, INSTALL_FILE)):
                raise PodfileError(f"feature {ref.key!r} has no {INSTALL_FILE}")
            if ref.short_id and meta.id != ref.short_id:
                raise PodfileError(f"feature {ref.key!r} declares id {meta.id!r}; a feature's "
                                   "id must match its folder or artifact name")
            check_requests(meta, ref, cap_add=self.config.security.cap_add,
                           bind_roots=self.config.security.allowed_bind_roots)
            self.features[key] = ResolvedFeature(
                ref=ref, meta=meta, digest=digest, folder=folder,
                env=option_env(meta, request.options, feature=ref.key))
        return key

    def _fetch(self, ref: FeatureRef) -> tuple[str, str]:
        """(digest, folder) of a Feature's files."""
        if ref.kind == "local":
            return _local(self.checkout, ref)
        entry = self.lock.get(ref.key)
        if ref.kind == "tarball":
            fetched = fetch_tarball(ref, cache=self.cache,
                                    pinned=entry.integrity if entry else "")
        else:
            fetched = fetch_oci(ref, registry=self.config.images.features_registry,
                                cache=self.cache, pinned=entry.pinned_digest if entry else "")
        check_locked(ref, entry, fetched.digest)
        log.info("feature fetched", feature=ref.key, digest=fetched.digest)
        return fetched.digest, fetched.folder


def _local(checkout: str, ref: FeatureRef) -> tuple[str, str]:
    from podspawn.podfile.build_context import BuildSpec, check_paths, context_digest

    spec = BuildSpec(dockerfile=posixpath.join(ref.location, METADATA_FILE),
                     context=ref.location, dockerfile_key=f"feature {ref.key!r}",
                     context_key=f"feature {ref.key!r}")
    root = os.path.realpath(checkout)
    check_paths(root, spec)
    inside = os.path.realpath(os.path.join(root, ".devcontainer"))
    real = os.path.realpath(os.path.join(root, ref.location))
    if not real.startswith(inside + os.sep):
        raise PodfileError(f"feature {ref.key!r} leads out of .devcontainer/ through a "
                           "symlink; keep local features inside it")
    return "local:" + context_digest(root, spec, ""), os.path.join(root, ref.location)


def ensure_featured_base(runtime: Runtime, *, project: str, plan: FeaturePlan,
                         limits: BuildLimits,
                         on_output: Callable[[str], None] | None = None) -> str:
    """``plan.tag``, built over ``plan.base`` unless present: one layer per Feature.

    Raises:
        RuntimeFailure, BuildLimitReached: a Feature's install failed.
    """
    from podspawn.podfile.build_context import BuildSpec, stage_context
    from podspawn.runtime.base import BuildOptions, ImageRecipe

    if runtime.image_id(plan.tag):
        return plan.tag
    with tempfile.TemporaryDirectory(prefix="podspawn-features-") as staged:
        env_files = plan.env_files()
        for index, feature in enumerate(plan.features):
            name = plan.folder_name(index)
            target = os.path.join(staged, CONTEXT_DIR, name)
            if feature.ref.kind == "local":
                os.makedirs(target)
                stage_context(feature.folder, BuildSpec(dockerfile="", context="."), target)
            else:
                shutil.copytree(feature.folder, target, symlinks=True)
            with open(os.path.join(target, ENV_FILE), "w", encoding="utf-8") as fh:
                fh.write(env_files[name])
        with open(os.path.join(staged, CONTEXT_DIR, RUN_FILE), "w", encoding="utf-8") as fh:
            fh.write(RUN_SCRIPT)
        with open(os.path.join(staged, ENTRYPOINT_FILE), "w", encoding="utf-8") as fh:
            fh.write(plan.entrypoint_script())
        log.info("building features image", project=project, tag=plan.tag, base=plan.base)
        runtime.build(ImageRecipe(
            tag=plan.tag, dockerfile=plan.dockerfile(),
            labels={"managed-by": "podspawn", "podspawn-project": project,
                    "podspawn-features": plan.digest},
            limits=limits,
            options=BuildOptions(context=staged, dockerfile_name=_DOCKERFILE),
        ), on_output=on_output)
    return plan.tag
