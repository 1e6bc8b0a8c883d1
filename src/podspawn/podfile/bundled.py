"""The Podfiles shipped inside the package: ``bases/`` (for ``extends``) and ``templates/``
(starter files for ``podspawn init``), and which template suits a project directory.

Detection looks for marker files in the project directory, strongest signal first, because
a repository often carries a second ecosystem's file for tooling (a Go service with a
``package.json`` for its docs site):

=========  ==============================================
template   marker files
=========  ==============================================
go         ``go.mod``
rust       ``Cargo.toml``
python     ``pyproject.toml``, ``setup.py``, ``requirements.txt``
node       ``package.json``
generic    none of the above
=========  ==============================================

No template or base hard-codes a home directory: the container user is the person who logs
in, so paths under home are written ``$HOME`` in hooks, and tools keep their defaults (Go's
``$HOME/go``, uv's ``$HOME/.cache/uv``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

from podspawn.errors import PodfileError

Kind = Literal["bases", "templates"]

#: Templates offered by ``podspawn init``.
TEMPLATE_NAMES = ("node", "python", "go", "rust", "generic")
#: The template used when no marker file is found.
FALLBACK_TEMPLATE = "generic"

_MARKERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("go", ("go.mod",)),
    ("rust", ("Cargo.toml",)),
    ("python", ("pyproject.toml", "setup.py", "requirements.txt")),
    ("node", ("package.json",)),
)


def detect(directory: str | os.PathLike[str]) -> str:
    """The template name for the project in ``directory`` (``generic`` when nothing matches)."""
    return detect_marker(directory)[0]


def detect_marker(directory: str | os.PathLike[str]) -> tuple[str, str | None]:
    """The template name and the marker file that chose it (None for the fallback)."""
    for template, markers in _MARKERS:
        for marker in markers:
            if Path(directory, marker).is_file():
                return template, marker
    return FALLBACK_TEMPLATE, None


def bundled_names(kind: Kind) -> list[str]:
    """Names of the Podfiles shipped in ``podspawn/podfile/<kind>/``, sorted."""
    folder = resources.files("podspawn.podfile").joinpath(kind)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def bundled_text(kind: Kind, name: str) -> str:
    """The text of a shipped base or template, as written (comments included).

    Raises:
        PodfileError: there is no such file.
    """
    if name not in bundled_names(kind):
        raise PodfileError(
            f"there is no bundled {kind[:-1]} named {name!r}; choose one of "
            + ", ".join(bundled_names(kind))
        )
    return resources.files("podspawn.podfile").joinpath(f"{kind}/{name}.yaml").read_text(
        encoding="utf-8"
    )


def template_text(name: str) -> str:
    """The starter Podfile ``podspawn init`` writes for template ``name``.

    Raises:
        PodfileError: no such template.
    """
    return bundled_text("templates", name)
