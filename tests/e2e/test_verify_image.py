"""``podspawn verify-image`` against real images in the real dockerd.

The default image's podspawn layer (built by a first login) passes; plain ``debian:bookworm``
lacks what the layer adds and names those packages; an image without sshd names
``openssh-server``; and an image that cannot even start leaves no container behind (the Go
tool leaked it). Test images are built FROM local images only (no registry here) and removed.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator

import pytest

from podspawn.services.images import layer_tag
from tests.e2e.conftest import IMAGE, RUN_ID, Server

TIMEOUT = 180
PREFIX = f"podspawn-e2e-{RUN_ID or 'x'}"


def docker(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], input=input, capture_output=True, timeout=TIMEOUT,
                          check=False)


def check_containers() -> set[str]:
    listed = docker("ps", "-aq", "--filter", "name=^podspawn-check\\.")
    return set(listed.stdout.decode().split())


def verify(server: Server, image: str) -> tuple[int, dict, str]:
    """JSON and human runs of verify-image; neither may leave a check container."""
    before = check_containers()
    as_json = server.podspawn("--json", "verify-image", image)
    human = server.podspawn("verify-image", image)
    assert check_containers() <= before, "verify-image left its container behind"
    assert as_json.returncode == human.returncode, human.stderr
    assert "Traceback" not in as_json.stderr + human.stderr
    return as_json.returncode, json.loads(as_json.stdout), human.stdout


@pytest.fixture(scope="module")
def layer(server: Server, sarah: str) -> str:
    """The default image's podspawn layer, which sarah's first login builds."""
    assert server.ssh(sarah, "true", timeout=TIMEOUT).returncode == 0
    base_id = docker("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.decode().strip()
    tag = layer_tag(base_id)
    assert docker("image", "inspect", tag).returncode == 0, f"{tag} was not built"
    return tag


@pytest.fixture
def built() -> Iterator[list[str]]:
    """Tags of images a test builds; removed afterwards."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        docker("rmi", "-f", tag)


def test_the_default_images_layer_can_serve_sessions(server: Server, layer: str) -> None:
    code, report, human = verify(server, layer)
    assert code == 0 and report["ok"] is True, human
    required = {f["name"]: f["present"] for f in report["findings"] if f["required"]}
    assert all(required.values()), required
    assert {"sh", "bash", "sudo", "sftp-server", "sshd", "rsync", "useradd"} <= set(required)
    assert human.splitlines()[-1].startswith(f"{layer} ")


def test_plain_debian_names_the_packages_the_layer_adds(server: Server) -> None:
    code, report, human = verify(server, IMAGE)
    assert code == 1 and report["ok"] is False
    assert {"sudo", "openssh-sftp-server", "openssh-server", "rsync"} <= set(
        report["missing_packages"])
    sshd = [line for line in human.splitlines() if line.split()[1:2] == ["sshd"]]
    assert sshd == ["FAIL  sshd         missing, needed for the .pod tunnel, which ends in the "
                    "container's sshd; add the Debian package openssh-server"]
    assert human.splitlines()[-1].startswith(
        f"{IMAGE} cannot serve sessions; add to the Podfile: packages: [")


def test_an_image_without_sshd_names_openssh_server(server: Server, layer: str,
                                                    built: list[str]) -> None:
    tag = f"{PREFIX}/no-sshd:test"
    built.append(tag)
    result = subprocess.run(["docker", "build", "-q", "-t", tag, "-"], capture_output=True,
                            input=f"FROM {layer}\nRUN rm -f /usr/sbin/sshd\n".encode(),
                            env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin"},
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    code, report, _ = verify(server, tag)
    missing_required = [f["package"] for f in report["findings"]
                        if f["required"] and not f["present"]]
    assert (code, missing_required) == (1, ["openssh-server"])
    # the control: the same check of the layer it was built from found sshd
    _, control, _ = verify(server, layer)
    assert {f["name"]: f["present"] for f in control["findings"]}["sshd"] is True


def test_an_image_that_cannot_start_leaves_nothing_behind(server: Server,
                                                          built: list[str]) -> None:
    """No ``sleep`` in the image: the container is created, its start fails, and it must
    still be removed (the Go tool leaked it here)."""
    tag = f"{PREFIX}/no-sleep:test"
    built.append(tag)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        payload = b"no shell, no sleep\n"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    imported = docker("import", "-", tag, input=data.getvalue())
    assert imported.returncode == 0, imported.stderr
    before = check_containers()
    result = server.podspawn("verify-image", tag)
    assert result.returncode == 1
    assert result.stderr == (f"podspawn: a container of {tag} stopped as soon as it started, so "
                             "it cannot hold a session: the image needs /bin/sh and sleep "
                             "(Debian packages dash and coreutils)\n")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert check_containers() <= before


def test_a_missing_image_is_one_sentence(server: Server) -> None:
    result = server.podspawn("verify-image", f"{PREFIX}/never:built")
    assert result.returncode == 1
    assert result.stderr == (f"podspawn: image {PREFIX}/never:built is not on this server; "
                             "pull or build it first (podspawn images bootstrap makes debian:* "
                             "and ubuntu:* images)\n")
