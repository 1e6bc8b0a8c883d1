"""devcontainer Features from the three sources: a local folder, a tarball served over HTTP
on 127.0.0.1, and an OCI artifact pushed (blob upload + manifest PUT) to a real registry
(Debian's docker-registry) on loopback. They install in the order the spec gives, with their
options, containerEnv, hooks and entrypoint seen in a session through the real sshd; a
lockfile mismatch and a Feature outside the allowlist are refused naming the Feature."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import shutil
import subprocess
import tarfile
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import free_port, wait_for
from tests.e2e.project_helpers import forget, fresh_user, pname, project_images
from tests.e2e.test_devcontainer_build import commit, project_ssh, refused

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
OCI_ID = "ghcr.io/podspawn-test/feat/oci-c"


def feature_files(ident: str, *, options: dict, env: dict, extra: dict | None = None,
                  install: str = "") -> dict[str, str]:
    meta = {"id": ident, "version": "1.0.0", "name": ident, "options": options,
            "containerEnv": env, **(extra or {})}
    script = ("#!/bin/sh\nset -e\n"
              f'echo "{ident} $GREETING $VERSION $_REMOTE_USER" >> /opt/order\n' + install)
    return {"devcontainer-feature.json": json.dumps(meta), "install.sh": script}


def tar_bytes(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_feature(registry: str, path: str, tag: str, layer: bytes) -> str:
    """Push ``layer`` as a devcontainer Feature artifact; its manifest digest."""
    def upload(blob: bytes) -> None:
        start = urllib.request.Request(f"{registry}/v2/{path}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start) as response:
            location = response.headers["Location"]
        if location.startswith("/"):
            location = registry + location
        joiner = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{joiner}digest={sha(blob)}", data=blob,
                                     method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(put) as response:
            assert response.status == 201

    upload(b"{}")
    upload(layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.devcontainers", "digest": sha(b"{}"),
                   "size": 2},
        "layers": [{"mediaType": "application/vnd.devcontainers.layer.v1+tar",
                    "digest": sha(layer), "size": len(layer),
                    "annotations": {"org.opencontainers.image.title":
                                    "devcontainer-feature-oci-c.tgz"}}],
    }).encode()
    put = urllib.request.Request(
        f"{registry}/v2/{path}/manifests/{tag}", data=manifest, method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(put) as response:
        assert response.status == 201
    return sha(manifest)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    assert Path(REGISTRY_BIN).exists(), "install Debian's docker-registry (scripts/test.sh)"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{url}/v2/", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        assert wait_for(answers, timeout=20), "docker-registry did not answer"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tarballs")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_repo(path: Path, tarball_url: str, lock: dict | None = None) -> Path:
    dc = path / ".devcontainer"
    local = dc / "local-a"
    local.mkdir(parents=True)
    for name, text in feature_files(
            "local-a", options={"greeting": {"type": "string", "default": "hi"}},
            env={"LOCAL_A": "yes"},
            extra={"installsAfter": [tarball_url],
                   "mounts": [{"type": "volume", "source": "feat-${devcontainerId}",
                               "target": "/feat-cache"}]}).items():
        (local / name).write_text(text)
    config = {
        "image": "debian:bookworm",
        "features": {
            "./local-a": {"greeting": "hello"},
            tarball_url: {},
            f"{OCI_ID}:1": "2.0",
        },
        "overrideFeatureInstallOrder": [OCI_ID],
        "postCreateCommand": "cat /tmp/oci-created > /tmp/user-created",
    }
    (dc / "devcontainer.json").write_text("// features\n" + json.dumps(config))
    if lock is not None:
        (dc / "devcontainer-lock.json").write_text(json.dumps({"features": lock}))
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    commit(path, "init")
    return path


@pytest.fixture(scope="module")
def published(registry, tarballs):
    """The tarball and OCI Features served; (tarball URL, tarball digest, OCI digest)."""
    root, base = tarballs
    tar_b = tar_bytes(feature_files(
        "tar-b", options={"greeting": {"type": "string", "default": "tarball-default"}},
        env={"TAR_B": "yes", "PATH": "/opt/tar-b/bin:${PATH}"},
        extra={"installsAfter": [OCI_ID]}))
    (root / "devcontainer-feature-tar-b.tgz").write_bytes(tar_b)
    oci = tar_bytes(feature_files(
        "oci-c", options={"version": {"type": "string", "default": "1.0",
                                      "enum": ["1.0", "2.0"]}},
        env={"OCI_C": "yes"},
        extra={"onCreateCommand": "touch /tmp/oci-created",
               "entrypoint": "/usr/local/share/oci-c-init.sh", "capAdd": ["KILL"]},
        install=("printf '#!/bin/sh\\necho started > /tmp/oci-entry\\n' "
                 "> /usr/local/share/oci-c-init.sh\n"
                 "chmod +x /usr/local/share/oci-c-init.sh\n")))
    digest = push_feature(registry, "podspawn-test/feat/oci-c", "1", oci)
    return f"{base}/devcontainer-feature-tar-b.tgz", sha(tar_b), digest


@pytest.fixture
def feature_config(server, registry, published):
    server.set_config({"images": {"features_registry": registry,
                                  "features_allow": ["ghcr.io/podspawn-test/",
                                                     published[0]]}})
    yield
    server.set_config(None)


def test_three_features_install_in_order_with_options_and_env(server, tmp_path, published,
                                                              feature_config):
    url, tar_digest, oci_digest = published
    name = pname("dcfeat")
    forget(server, name)
    lock = {f"{OCI_ID}:1": {"version": "1.0.0", "resolved": f"{OCI_ID}@{oci_digest}",
                            "integrity": oci_digest},
            url: {"version": "1.0.0", "resolved": url, "integrity": tar_digest}}
    repo = make_repo(tmp_path / "repo", url, lock)
    added = server.podspawn("add-project", name, "--repo", str(repo))
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        assert any(image.startswith("podspawn/features:") for image in project_images(name))
        user = fresh_user(server, "dcfeat")
        seen = project_ssh(server, user, name,
                           "cat /opt/order; echo ENV=$LOCAL_A,$TAR_B,$OCI_C; echo PATH=$PATH; "
                           "cat /tmp/user-created /tmp/oci-entry && echo HOOKS-OK; "
                           "grep -q ' /feat-cache ' /proc/mounts && echo MOUNTED")
        out = seen.stdout.decode()
        assert seen.returncode == 0, seen.stderr.decode()
        lines = out.splitlines()
        # the override puts the OCI one first; then installsAfter beats the sort by id
        # (./local-a < http://...): tar-b after oci-c, local-a after tar-b. Options: the
        # version shorthand, a default, the user's value
        assert lines[:3] == ["oci-c  2.0 podspawn", "tar-b tarball-default  podspawn",
                             "local-a hello  podspawn"], out
        assert "ENV=yes,yes,yes" in out
        assert "PATH=/opt/tar-b/bin:" in out
        assert "started" in out and "HOOKS-OK" in out  # entrypoint ran; hook before user's
        assert "MOUNTED" in out  # the local Feature's volume mount reached the session
        server.podspawn("remove-user", user, "--force")
    finally:
        forget(server, name)


def test_a_lockfile_mismatch_is_refused_naming_the_feature(server, tmp_path, published,
                                                          feature_config):
    url, _, _ = published
    name = pname("dclock")
    wrong = "sha256:" + "0" * 64
    repo = make_repo(tmp_path / "repo", url, {url: {"resolved": url, "integrity": wrong}})
    message = refused(server, name, repo)
    assert f"feature '{url}' does not match devcontainer-lock.json" in message, message
    assert wrong in message


def test_a_feature_outside_the_allowlist_is_refused_naming_it(server, tmp_path, registry,
                                                             published):
    url, _, _ = published
    name = pname("dcallow")
    server.set_config({"images": {"features_registry": registry,
                                  "features_allow": ["ghcr.io/podspawn-test/"]}})
    try:
        message = refused(server, name, make_repo(tmp_path / "repo", url))
        assert f"feature '{url}' is not in this server's allowlist" in message, message
        # control: allowing it lets the same repository register
        server.set_config({"images": {"features_registry": registry,
                                      "features_allow": ["ghcr.io/podspawn-test/", url]}})
        added = server.podspawn("add-project", name, "--repo", str(tmp_path / "repo"))
        assert added.returncode == 0, added.stderr
    finally:
        server.set_config(None)
        forget(server, name)

