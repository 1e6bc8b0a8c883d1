"""Parse one ``packages`` entry of a Podfile: ``name`` or ``name@version``.

A plain name is a Debian/Ubuntu package installed with apt. A version turns it into an apt
pin (``name@1.2`` installs ``name=1.2*``), except for four runtimes that podspawn installs
itself, because the distributions ship only one version of each:

========== ======================================== =================================
entry      accepted versions                        installed from
========== ======================================== =================================
nodejs@V   a major (``22``) or exact (``22.11.0``)   the official Node.js tarball
python@V   ``3.N``                                  the distribution, else deadsnakes
go@V       ``1.25``, ``1.25.0``, ``1.26rc1``        the official Go tarball
rust@V     ``stable``, ``beta``, ``nightly[-DATE]``  rustup, system-wide
           or a release such as ``1.80.1``
========== ======================================== =================================

The Go implementation accepts only Node.js 18/20/22 and Python 3.11-3.13; any version of the
right shape is accepted here, since the installers do not depend on a fixed list. The pattern
keeps every entry free of characters a shell or a Dockerfile would reinterpret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

#: A package entry: a Debian package name, optionally ``@`` and a version (Debian versions
#: may contain ``:``, ``~`` and ``+``; ``*`` is allowed as apt's glob).
PACKAGE_PATTERN = r"^[a-z0-9][a-z0-9+.-]*(?:@[A-Za-z0-9][A-Za-z0-9.+~:_*-]*)?$"
_PACKAGE_RE = re.compile(PACKAGE_PATTERN)

Runtime = Literal["nodejs", "python", "go", "rust"]
RUNTIMES: tuple[Runtime, ...] = ("nodejs", "python", "go", "rust")

_VERSION_RULES: dict[Runtime, tuple[re.Pattern[str], str]] = {
    "nodejs": (re.compile(r"\d{1,3}(?:\.\d+\.\d+)?"), "a major version such as nodejs@22"),
    "python": (re.compile(r"3\.\d{1,2}"), "3.N, such as python@3.12"),
    "go": (
        re.compile(r"1\.\d{1,3}(?:\.\d{1,3}|rc\d+|beta\d+)?"),
        "a release such as go@1.25 or go@1.25.0",
    ),
    "rust": (
        re.compile(r"stable|beta|nightly(?:-\d{4}-\d{2}-\d{2})?|\d+\.\d+(?:\.\d+)?"),
        "a toolchain such as rust@stable, rust@nightly or rust@1.80.1",
    ),
}


@dataclass(frozen=True, slots=True)
class Package:
    """One parsed ``packages`` entry."""

    name: str
    version: str | None
    runtime: Runtime | None
    """Set when podspawn installs this itself; None for an apt package."""

    @property
    def apt_argument(self) -> str:
        """What apt-get install is given: ``name`` or ``name=version*`` (a prefix pin)."""
        if self.version is None:
            return self.name
        return f"{self.name}={self.version}" + ("" if self.version.endswith("*") else "*")

    @property
    def go_version(self) -> str:
        """The Go release as named in go.dev file names: ``1.25`` becomes ``1.25.0``.

        Go tarballs are named ``go1.20`` up to 1.20 and ``go1.21.0`` from 1.21 on, so a
        two-part version gets ``.0`` only from 1.21.
        """
        version = self.version or ""
        parts = version.split(".")
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) >= 21:
            return f"{version}.0"
        return version


def package_name(spec: str) -> str:
    """The name part of ``name@version`` (the whole entry when it has no version)."""
    return spec.split("@", 1)[0]


def parse_package(spec: str) -> Package:
    """Split ``name[@version]`` and check a runtime's version.

    Raises:
        ValueError: the entry has characters outside the package pattern, or a runtime
            (nodejs, python, go, rust) has a version podspawn cannot install.
    """
    if not _PACKAGE_RE.fullmatch(spec):
        raise ValueError(
            f"{_short(spec)} is not a package: write a lowercase Debian package name, "
            "optionally followed by @version"
        )
    name, _, version = spec.partition("@")
    if not version:
        return Package(name=name, version=None, runtime=None)
    for runtime in RUNTIMES:
        if runtime == name:
            pattern, example = _VERSION_RULES[runtime]
            if not pattern.fullmatch(version):
                raise ValueError(f"{spec} is not supported: the version must be {example}")
            return Package(name=name, version=version, runtime=runtime)
    return Package(name=name, version=version, runtime=None)


def _short(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "...'"
