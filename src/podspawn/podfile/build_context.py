"""A devcontainer's ``build``: where its Dockerfile and context are, and what they hash to.

The Dockerfile and its context come from an untrusted repository, so every path is checked
before anything is read: ``build.dockerfile`` and ``build.context`` (or the old top-level
``dockerFile`` and ``context``) are relative to the devcontainer.json's folder, and one that
leaves the repository (``..``, an absolute path, or a symlink pointing out) is refused by the
key's name. Inside the context, symlinks are kept as links and never followed, as Docker's
own client sends them.

The context is what Docker's client would send: every file under the context folder except
those ``.dockerignore`` excludes (its rules: patterns relative to the context, ``*``, ``?``,
``[...]`` and ``**``, ``!`` re-includes, the last matching line wins, and a directory that
matches excludes what is in it). :func:`context_digest` covers the Dockerfile text, the build
arguments and target, and every such file's path, mode and content (a link's target), so a
change to any of them gives a new base image tag (``podspawn/build:<digest>``) and a change
to a file outside the context, or one it ignores, does not. The repository's own ``.git``
folder at the top of the context is left out too: it changes with every commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podspawn.errors import PodfileError
from podspawn.podfile.text_file import read_bounded_text

#: Bumped when what the digest covers changes, so images get new tags.
BUILD_VERSION = "1"
#: Largest Dockerfile read, in bytes.
MAX_DOCKERFILE_BYTES = 1024 * 1024
#: Where the Dockerfile text goes in the staged context: a name a repository cannot use,
#: since a context file of that name is refused.
DOCKERFILE_NAME = ".podspawn-build.Dockerfile"

_ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class BuildSpec:
    """The ``build`` section of a devcontainer.json, paths relative to the repository."""

    dockerfile: str
    """The Dockerfile, relative to the repository root (POSIX separators)."""
    context: str
    """The context folder, relative to the repository root (``.`` for the root)."""
    args: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    dockerfile_key: str = "build.dockerfile"
    context_key: str = "build.context"


def parse_build(config: Mapping[str, Any], *, folder: str) -> BuildSpec | None:
    """The build section of ``config`` (a devcontainer.json in repository folder ``folder``,
    ``.`` for the root), or None when it names no Dockerfile.

    Paths are joined and normalised but not checked against the disk (:func:`check_paths`).

    Raises:
        PodfileError: a key has the wrong type or a path leaves the repository.
    """
    section = config.get("build")
    if section is not None and not isinstance(section, Mapping):
        raise PodfileError("build must be an object")
    section = section or {}
    found = _pick(section, config, "dockerfile", ("dockerFile", "dockerfile"))
    if found is None:
        if section:
            raise PodfileError("build has no dockerfile; name the Dockerfile in "
                               "build.dockerfile")
        return None
    dockerfile_key, dockerfile = found
    context_key, context = _pick(section, config, "context", ("context",)) or ("context", ".")
    for key, value in ((dockerfile_key, dockerfile), (context_key, context)):
        if not isinstance(value, str) or not value:
            raise PodfileError(f"{key} must be a non-empty path")
    args = section.get("args", {})
    if not isinstance(args, Mapping) or not all(isinstance(v, str) for v in args.values()):
        raise PodfileError("build.args must be an object of strings")
    bad = [str(name) for name in args if not _ARG_RE.fullmatch(str(name))]
    if bad:
        raise PodfileError(f"build.args {bad[0][:60]!r} is not a valid argument name")
    target = section.get("target", "")
    if not isinstance(target, str):
        raise PodfileError("build.target must be a string")
    return BuildSpec(
        dockerfile=inside_repository(folder, dockerfile, dockerfile_key),
        context=inside_repository(folder, context, context_key),
        args={str(k): v for k, v in args.items()}, target=target,
        dockerfile_key=dockerfile_key, context_key=context_key,
    )


def _pick(section: Mapping[str, Any], config: Mapping[str, Any], key: str,
          old_keys: tuple[str, ...]) -> tuple[str, Any] | None:
    """(the key's name, its value): ``build.<key>`` first, then the old top-level keys."""
    if key in section:
        return f"build.{key}", section[key]
    for old in old_keys:
        if old in config:
            return old, config[old]
    return None


def inside_repository(folder: str, path: str, key: str,
                      what: str = "the Dockerfile and its context") -> str:
    """``path`` (relative to repository folder ``folder``) relative to the root.

    Raises:
        PodfileError: naming ``key``, when the path is absolute or leaves the repository.
    """
    if path.startswith("/") or "\\" in path or "\0" in path:
        raise PodfileError(f"{key} {path[:80]!r} is not a relative path inside the "
                           "repository; make it relative to the devcontainer.json's folder")
    joined = os.path.normpath(os.path.join(folder, path))
    if joined == ".." or joined.startswith("../"):
        raise PodfileError(f"{key} {path[:80]!r} leaves the repository; keep {what} inside "
                           "it")
    return joined


def check_paths(root: str | os.PathLike[str], spec: BuildSpec) -> None:
    """Refuse a Dockerfile or context that is missing, of the wrong kind, or reached through
    a symlink leading out of the repository.

    Raises:
        PodfileError: naming the key.
    """
    _check(root, spec.dockerfile_key, spec.dockerfile, want_dir=False)
    _check(root, spec.context_key, spec.context, want_dir=True)


def _check(root: str | os.PathLike[str], key: str, rel: str, *, want_dir: bool) -> str:
    """The real path of ``rel``, once it is known to stay in ``root`` and be of its kind."""
    base = os.path.realpath(root)
    real = os.path.realpath(os.path.join(base, rel))
    if real != base and not real.startswith(base + os.sep):
        raise PodfileError(f"{key} {rel!r} leads out of the repository through a "
                           "symlink; keep the Dockerfile and its context inside it")
    if want_dir and not os.path.isdir(real):
        raise PodfileError(f"{key} {rel!r} is not a folder of the repository")
    if not want_dir and not os.path.isfile(real):
        raise PodfileError(f"{key} {rel!r} is not a file of the repository")
    return real


def read_dockerfile(root: str | os.PathLike[str], spec: BuildSpec) -> str:
    """The Dockerfile's text, once its path is checked (:func:`check_paths`).

    Raises:
        PodfileError: it is too large, unreadable or not UTF-8.
    """
    path = _check(root, spec.dockerfile_key, spec.dockerfile, want_dir=False)
    return read_bounded_text(path, display=spec.dockerfile_key, limit=MAX_DOCKERFILE_BYTES)


# -- .dockerignore ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]
    exclude: bool


def parse_dockerignore(text: str) -> list[_Rule]:
    """The rules of a ``.dockerignore`` text, in order."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line if exclude else line[1:].strip()
        pattern = os.path.normpath(pattern.lstrip("/")) if pattern.strip("/") else ""
        if not pattern or pattern == ".":
            continue
        rules.append(_Rule(re.compile(_translate(pattern)), exclude))
    return rules


def _translate(pattern: str) -> str:
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):  # "**/" matches zero or more folders
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1:end]
                body = "^" + body[1:] if body.startswith("^") else body
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out) + r"\Z"


def ignored(path: str, rules: list[_Rule]) -> bool:
    """Whether ``.dockerignore`` ``rules`` exclude ``path`` (relative, POSIX): the last rule
    matching it or one of its parent folders decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for rule in rules:
        if any(rule.regex.match(prefix) for prefix in prefixes):
            result = rule.exclude
    return result


# -- the context ------------------------------------------------------------------------


def context_files(root: str | os.PathLike[str], spec: BuildSpec) -> list[str]:
    """The context's files and symlinks (relative POSIX paths, sorted) Docker would send.

    Raises:
        PodfileError: the context folder is not in the repository (:func:`check_paths`),
            or a file is named like :data:`DOCKERFILE_NAME`.
    """
    top = _check(root, spec.context_key, spec.context, want_dir=True)
    rules: list[_Rule] = []
    ignore = os.path.join(top, ".dockerignore")
    if os.path.isfile(ignore) and not os.path.islink(ignore):
        with open(ignore, encoding="utf-8", errors="replace") as fh:
            rules = parse_dockerignore(fh.read())
    found = sorted(rel for rel in _walk(top) if not ignored(rel, rules))
    if DOCKERFILE_NAME in found:
        raise PodfileError(f"{spec.context_key} holds a file named {DOCKERFILE_NAME}, which "
                           "podspawn uses itself; rename it")
    return found


def _walk(top: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(top, followlinks=False):
        rel_folder = os.path.relpath(folder, top)
        dirs[:] = [d for d in dirs if d != ".git" or rel_folder != "."]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            yield rel.replace(os.sep, "/")


def context_digest(root: str | os.PathLike[str], spec: BuildSpec, dockerfile: str) -> str:
    """12 hex digits over the Dockerfile, the build arguments and target, and every context
    file's path, mode and content (see the module docstring)."""
    top = os.path.join(os.path.realpath(root), spec.context)
    digest = hashlib.sha256()
    header = {"version": BUILD_VERSION, "dockerfile": dockerfile, "args": dict(spec.args),
              "target": spec.target}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for rel in context_files(root, spec):
        path = os.path.join(top, rel)
        info = os.lstat(path)
        digest.update(b"\0" + rel.encode("utf-8", "surrogateescape") + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"L" + os.readlink(path).encode("utf-8", "surrogateescape"))
            continue
        digest.update(f"F{stat.S_IMODE(info.st_mode):o}:{info.st_size}:".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def stage_context(root: str | os.PathLike[str], spec: BuildSpec, target: str) -> None:
    """Copy the context's files (links as links) into the empty folder ``target``."""
    top = os.path.join(os.path.realpath(root), spec.context)
    for rel in context_files(root, spec):
        source, dest = os.path.join(top, rel), os.path.join(target, rel)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), dest)
        else:
            shutil.copy2(source, dest, follow_symlinks=False)
