"""``podspawn images bootstrap``: a Debian base image built with debootstrap, no registry."""

from __future__ import annotations

import subprocess


def test_bootstrap_builds_a_working_debian_image(server):
    image = "debian:12"
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
    try:
        result = server.podspawn("images", "bootstrap", image)
        assert result.returncode == 0, result.stderr
        assert f"built {image}" in result.stdout
        ran = subprocess.run(["docker", "run", "--rm", image, "sh", "-c",
                              ". /etc/os-release; echo $VERSION_CODENAME"],
                             capture_output=True, text=True, timeout=120, check=False)
        assert ran.stdout.strip() == "bookworm", ran.stderr
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


def test_bootstrap_refuses_what_debootstrap_cannot_build(server):
    result = server.podspawn("images", "bootstrap", "alpine:3.20")
    assert result.returncode == 2
    assert "only debian:<suite> and ubuntu:<version>" in result.stderr
    assert "Traceback" not in result.stderr
    ubuntu = server.podspawn("images", "bootstrap", "ubuntu:24.04")
    assert ubuntu.returncode == 2
    assert "--mirror" in ubuntu.stderr
