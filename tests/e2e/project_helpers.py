"""Helpers for the e2e files that register projects of their own: names that carry this run's
id (project images are shared by every run on the engine) and a cleanup that removes them."""

from __future__ import annotations

import subprocess

from tests.e2e.harness import ENGINE, RUN_ID, uname


def pname(base: str) -> str:
    """A project name of this run."""
    return f"{base}-{RUN_ID}" if RUN_ID else base


def fresh_user(server, base: str) -> str:
    """This run's user ``base``, removed first if an earlier test left it."""
    user = uname(base)
    server.podspawn("remove-user", user, "--force")
    server.add_user(user)
    return user


def project_images(project: str) -> list[str]:
    """``repository:tag`` of every image built for ``project``."""
    out = subprocess.run([ENGINE, "images", "--format", "{{.Repository}}:{{.Tag}}",
                          "--filter", f"label=podspawn-project={project}"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def forget(server, project: str) -> None:
    """Unregister ``project`` and remove its images, so the engine stays tidy."""
    server.podspawn("remove-project", project)
    images = project_images(project)
    if images:
        subprocess.run([ENGINE, "rmi", "-f", *images], capture_output=True, check=False)
