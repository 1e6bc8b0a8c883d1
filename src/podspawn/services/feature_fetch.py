"""Fetching devcontainer Features over the network sources the admin configured, into a
server-side cache keyed by digest.

Two sources only, since the server has no internet: the registry mirror
``images.features_registry`` for OCI references (the registry host of the reference is
dropped and its path kept: ``ghcr.io/owner/repo/go:1`` is
``<mirror>/v2/owner/repo/go/manifests/1``, as a pull-through mirror serves it), and a
tarball URL the allowlist names. Both through the Registry HTTP API v2 / plain GET with the
standard library, anonymously, with size limits; every blob is checked against its digest.

The cache, ``<state dir>/features``: ``manifests/<hex>.json`` by manifest digest and
``trees/<hex>/`` (the extracted Feature) by the digest of its tar. A Feature pinned by digest
that is in the cache is used without any network access. Trees are extracted with the rules
of ``tarfile``'s ``data`` filter, checked by hand (no absolute paths, no ``..``, no links out,
no hard links or devices, no setuid bits, owned by root) into a temporary folder renamed into
place, so a half-written tree is never seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from podspawn.errors import PodfileError
from podspawn.podfile.features.refs import FeatureRef, is_loopback

#: Largest Feature tarball or layer fetched, in bytes.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
#: Largest extracted Feature, in bytes, and its most members.
MAX_TREE_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 10_000
LAYER_MEDIA_TYPE = "application/vnd.devcontainers.layer.v1+tar"
_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, "
           "application/vnd.docker.distribution.manifest.v2+json")
_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Fetched:
    digest: str
    """``sha256:<hex>`` of the manifest (OCI) or the tarball: what a lockfile pins."""
    folder: str
    """The extracted Feature in the cache."""


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FeatureCache:
    """``<state dir>/features``, root-only."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, kind: str, digest: str, suffix: str = "") -> str:
        return os.path.join(self.root, kind, digest.split(":", 1)[1] + suffix)

    def manifest(self, digest: str) -> bytes | None:
        try:
            with open(self._path("manifests", digest, ".json"), "rb") as fh:
                data = fh.read(MAX_MANIFEST_BYTES + 1)
        except OSError:
            return None
        return data if sha256(data) == digest else None

    def keep_manifest(self, digest: str, data: bytes) -> None:
        self._write(self._path("manifests", digest, ".json"), data)

    def tree(self, digest: str) -> str | None:
        path = self._path("trees", digest)
        return path if os.path.isdir(path) else None

    def keep_tree(self, digest: str, data: bytes, *, feature: str) -> str:
        """Extract the tar ``data`` (of ``digest``) into the cache; its folder."""
        found = self.tree(digest)
        if found:
            return found
        target = self._path("trees", digest)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".tree-", dir=os.path.dirname(target))
        try:
            extract(data, staging, feature=feature)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _write(self, path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def extract(data: bytes, target: str, *, feature: str) -> None:
    """Unpack a Feature tar (gzipped or not) into ``target``.

    Raises:
        PodfileError: not a tar, too large, or a member the data filter refuses.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = tar.getmembers()
            if len(members) > MAX_MEMBERS or sum(m.size for m in members) > MAX_TREE_BYTES:
                raise PodfileError(f"feature {feature!r} unpacks to more than "
                                   f"{MAX_TREE_BYTES} bytes or {MAX_MEMBERS} files")
            for member in members:
                _check_member(member, feature)
                member.mode &= 0o755
                member.uid = member.gid = 0
                member.uname = member.gname = "root"
            tar.extractall(target, members=members)  # noqa: S202 (each member checked above)
    except tarfile.TarError as exc:
        raise PodfileError(f"feature {feature!r} is not a usable tar archive ({exc})") from None


def _check_member(member: tarfile.TarInfo, feature: str) -> None:
    """Refuse what could write outside the tree or make devices: the ``data`` filter's
    rules, checked here since not every Python 3.11 has that filter."""
    name = member.name
    parts = [part for part in name.split("/") if part not in ("", ".")]
    bad = name.startswith("/") or ".." in parts
    if member.issym():
        link = member.linkname
        depth = len(parts) - 1
        for part in link.split("/"):
            depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
            bad = bad or depth < 0
        bad = bad or link.startswith("/")
    elif not (member.isfile() or member.isdir()):
        bad = True
    if bad:
        raise PodfileError(f"feature {feature!r} holds {name[:120]!r}, which is not a plain "
                           "file or folder inside the feature; it was not unpacked")


def _get(url: str, *, feature: str, accept: str = "", limit: int) -> tuple[bytes, str]:
    """(body, final URL) of a GET; redirects may not leave https for a non-loopback http."""
    host = urlsplit(url).hostname or ""
    handlers = [urllib.request.ProxyHandler({})] if is_loopback(host) else []
    opener = urllib.request.build_opener(*handlers)
    headers = {"User-Agent": "podspawn"}
    if accept:
        headers["Accept"] = accept
    try:
        with opener.open(urllib.request.Request(url, headers=headers),  # noqa: S310
                         timeout=_TIMEOUT) as response:
            final = response.geturl()
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise PodfileError(f"feature {feature!r}: {url} asks for credentials; podspawn "
                               "reads features anonymously from the configured mirror") from None
        if exc.code == 404:
            raise PodfileError(f"feature {feature!r} is not at {url} (HTTP 404); publish it "
                               "there or fix the reference") from None
        raise PodfileError(f"feature {feature!r}: {url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PodfileError(f"feature {feature!r} cannot be fetched from {url} ({reason}); "
                           "check that the server can reach it") from None
    parts = urlsplit(final)
    if parts.scheme != "https" and not (parts.scheme == "http" and
                                         is_loopback(parts.hostname or "")):
        raise PodfileError(f"feature {feature!r}: {url} redirected to {final}, which is not "
                           "https; it was not used")
    if len(body) > limit:
        raise PodfileError(f"feature {feature!r}: {url} is larger than {limit} bytes")
    return body, final


def fetch_tarball(ref: FeatureRef, *, cache: FeatureCache, pinned: str = "") -> Fetched:
    """A tarball Feature; from the cache when ``pinned`` (a lockfile's integrity) is there.

    Raises:
        PodfileError: it cannot be fetched or unpacked.
    """
    if pinned and cache.tree(pinned):
        return Fetched(digest=pinned, folder=str(cache.tree(pinned)))
    data, _ = _get(ref.location, feature=ref.key, limit=MAX_ARTIFACT_BYTES)
    digest = sha256(data)
    return Fetched(digest=digest, folder=cache.keep_tree(digest, data, feature=ref.key))


def fetch_oci(ref: FeatureRef, *, registry: str, cache: FeatureCache, pinned: str = ""
              ) -> Fetched:
    """An OCI Feature through the mirror ``registry``, by ``pinned`` digest when given.

    Raises:
        PodfileError: no mirror is configured, the manifest or layer is missing or does not
            match its digest.
    """
    if not registry:
        raise PodfileError(f"feature {ref.key!r} is an OCI reference, but this server has no "
                           "registry mirror; an administrator sets images.features_registry")
    reference = pinned or ref.reference
    base = f"{registry.rstrip('/')}/v2/{ref.location}"
    manifest = cache.manifest(reference) if reference.startswith("sha256:") else None
    if manifest is None:
        manifest, _ = _get(f"{base}/manifests/{reference}", feature=ref.key, accept=_ACCEPT,
                           limit=MAX_MANIFEST_BYTES)
    digest = sha256(manifest)
    if reference.startswith("sha256:") and digest != reference:
        raise PodfileError(f"feature {ref.key!r}: the registry's manifest has digest {digest}, "
                           f"not the {reference} asked for; it was not used")
    layer = _layer(manifest, ref.key)
    folder = cache.tree(layer)
    if folder is None:
        blob, _ = _get(f"{base}/blobs/{layer}", feature=ref.key, limit=MAX_ARTIFACT_BYTES)
        if sha256(blob) != layer:
            raise PodfileError(f"feature {ref.key!r}: the registry's layer does not match its "
                               f"digest {layer}; it was not used")
        folder = cache.keep_tree(layer, blob, feature=ref.key)
    cache.keep_manifest(digest, manifest)
    return Fetched(digest=digest, folder=folder)


def _layer(manifest: bytes, feature: str) -> str:
    try:
        data = json.loads(manifest)
        layers = [layer for layer in data.get("layers", [])
                  if layer.get("mediaType") == LAYER_MEDIA_TYPE]
        digest = str(layers[0]["digest"]) if layers else ""
    except (ValueError, AttributeError, KeyError, TypeError):
        digest = ""
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise PodfileError(f"feature {feature!r}: its manifest has no layer of media type "
                           f"{LAYER_MEDIA_TYPE}; it is not a devcontainer feature")
    return digest
