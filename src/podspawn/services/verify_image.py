"""``podspawn verify-image IMAGE``: can this image serve podspawn sessions?

A session needs more from its image than a shell: ``sudo`` (users are promised passwordless
sudo), ``sftp-server`` (sftp and modern scp), ``sshd`` (the ``.pod`` tunnel ends in it),
``rsync``, and the ``useradd`` family (every session makes the user's account). For each
missing piece the report names the Debian package to add to the Podfile's ``packages:``.
podspawn's own layer (``podspawn/base:<hash>``) adds sudo, sftp-server, sshd, scp and rsync
to any base with ``apt-get``, so a plain Debian base fails here and its layer passes.

Every piece is probed by one shell script in a throw-away container
(:mod:`podspawn.services.throwaway`), so the whole check costs one container and two execs.
"""

from __future__ import annotations

from dataclasses import dataclass

from podspawn.runtime.base import Runtime
from podspawn.services.throwaway import run_checks


@dataclass(frozen=True, slots=True)
class Piece:
    name: str
    probe: str
    """A POSIX sh condition, true when the piece is there."""
    package: str
    required: bool
    why: str


#: What an image is checked for, in the order reported.
PIECES: tuple[Piece, ...] = (
    Piece("bash", "[ -x /bin/bash ]", "bash", True, "the default login shell"),
    Piece("sudo", "command -v sudo", "sudo", True, "the passwordless sudo users are promised"),
    Piece("sftp-server", "[ -x /usr/lib/openssh/sftp-server ]", "openssh-sftp-server", True,
          "sftp and scp"),
    Piece("sshd", "[ -x /usr/sbin/sshd ]", "openssh-server", True,
          "the .pod tunnel, which ends in the container's sshd"),
    Piece("rsync", "command -v rsync", "rsync", True, "rsync to the session"),
    Piece("useradd", "command -v useradd && command -v usermod && command -v groupadd "
          "&& command -v groupmod", "passwd", True,
          "creating the user's account when a session starts"),
    Piece("getent", "command -v getent", "libc-bin", True,
          "looking up ids when a session starts"),
    Piece("git", "command -v git", "git", False, "dotfiles and extra repositories"),
    Piece("scp", "command -v scp", "openssh-client", False, "legacy scp -O"),
    Piece("utf8-locale", "locale -a 2>/dev/null | grep -qiE '^[a-z_]*[.]utf-?8'", "locales",
          False, "UTF-8 text in terminals: C.UTF-8 or a *.utf8 locale"),
)
SHELL = Piece("sh", "", "dash", True, "every command, which runs through /bin/sh")


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    present: bool
    required: bool
    package: str
    why: str


@dataclass(frozen=True, slots=True)
class ImageReport:
    image: str
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        """True when nothing required is missing (recommended pieces only warn)."""
        return all(f.present or not f.required for f in self.findings)

    @property
    def missing_packages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.package for f in self.findings if not f.present))


def probe_script(pieces: tuple[Piece, ...] = PIECES) -> str:
    """One ``name yes|no`` line per piece."""
    return "".join(
        f"if {p.probe} >/dev/null 2>&1; then echo '{p.name} yes'; else echo '{p.name} no'; fi\n"
        for p in pieces
    )


def parse_probe(output: str, pieces: tuple[Piece, ...] = PIECES) -> dict[str, bool]:
    """What :func:`probe_script` printed; a piece without a line counts as missing."""
    answers = {}
    for line in output.splitlines():
        name, _, verdict = line.strip().partition(" ")
        answers[name] = verdict == "yes"
    return {p.name: answers.get(p.name, False) for p in pieces}


def verify_image(*, runtime: Runtime, image: str) -> ImageReport:
    """Start ``image`` in a throw-away container and report each piece.

    Raises:
        ImageUnavailable: the image is not on this server.
        RuntimeFailure: the container could not be created or started.
    """
    shell, result = run_checks(runtime, image, [["/bin/sh", "-c", "exit 0"],
                                                ["/bin/sh", "-c", probe_script()]])
    has_shell = shell.exit_code == 0
    present = {p.name: False for p in PIECES}
    if has_shell:
        present = parse_probe(result.output.decode("utf-8", "replace"))
    findings = [_finding(SHELL, has_shell)]
    findings += [_finding(p, present[p.name]) for p in PIECES]
    return ImageReport(image=image, findings=tuple(findings))


def _finding(piece: Piece, present: bool) -> Finding:
    return Finding(name=piece.name, present=present, required=piece.required,
                   package=piece.package, why=piece.why)
