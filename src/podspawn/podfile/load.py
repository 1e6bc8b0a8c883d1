"""Find a project's Podfile, resolve its ``extends`` chain, merge, and validate it once.

Where the Podfile is (decided here; the Go docs contradict each other): in the project
directory, ``podfile.yaml`` first, then ``.podspawn/podfile.yaml``. When both exist the first
wins and the loaded result carries a warning naming the ignored file. With neither, a
``.devcontainer/devcontainer.json`` or ``.devcontainer.json`` is converted
(:mod:`podspawn.podfile.devcontainer`, with its Compose files read by
:mod:`podspawn.podfile.compose`). Nothing is merged across these sources, and there is no
per-user fallback Podfile: a server must not build one user's default into another's project.

``extends`` names, in the order they are recognised:

1. ``http://`` or ``https://`` URL: fetched with the injected ``fetch(url) -> str``; without
   one, remote bases are refused. Nothing is cached here; a caller may cache in its fetcher.
2. ``github.com/org/repo[/path]`` (the Go shorthand): fetched from ``remote_base_url``
   (default ``https://raw.githubusercontent.com``) as ``<base>/org/repo/main/<path>``, with
   ``podfile.yaml`` for a bare repository and ``main/`` added unless the path starts with a
   branch of ``main`` or ``master``.
3. A path (starting with ``.`` or ``/``, or ending in ``.yaml``/``.yml``): relative to the
   file that names it. A local file may only extend files inside the project directory (a
   repository must not read other host files), a fetched file resolves paths against its own
   URL, and a bundled base may only name other bundled bases.
4. A bare name: a base shipped with podspawn (``podspawn/podfile/bases/<name>.yaml``), then a
   bundled ``init`` template of that name.

The chain may be at most 10 ``extends`` deep (an eleventh is an error) and may not loop.
Every file is parsed with ``yaml.safe_load`` rules plus a duplicate-key check, merged with
:func:`podspawn.podfile.merge.merge`, and only the final result is validated, so a base may
leave out ``base`` as long as something in the chain sets it. Problems are reported as one
line each, ``services.0.image: Field required``, under a line naming the files involved.
Files are named relative to the project directory, so messages never show host paths.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError

from podspawn import yaml_text
from podspawn.errors import PodfileError
from podspawn.podfile.bind_roots import bind_parts
from podspawn.podfile.build_context import BuildSpec
from podspawn.podfile.bundled import bundled_names, bundled_text
from podspawn.podfile.loaded import LoadedPodfile
from podspawn.podfile.merge import merge, removal_markers
from podspawn.podfile.model import PATTERN_HINTS, Podfile
from podspawn.validation import Wording, describe_errors

if TYPE_CHECKING:
    from podspawn.podfile.compose import ComposePolicy

#: ``fetch(url) -> text``: how remote ``extends`` are read. It may raise OSError (urllib's
#: errors are OSErrors), ValueError, UnicodeError or PodfileError.
Fetcher = Callable[[str], str]

#: Where a Podfile is looked for in a project directory, in this order.
PODFILE_NAMES = ("podfile.yaml", ".podspawn/podfile.yaml")
#: Deepest ``extends`` chain: the project's file plus this many bases.
MAX_EXTENDS_DEPTH = 10
#: Largest Podfile or base accepted, in bytes.
MAX_PODFILE_BYTES = 1024 * 1024
#: Where ``github.com/org/repo`` shorthands are fetched from, unless configured otherwise.
DEFAULT_REMOTE_BASE_URL = "https://raw.githubusercontent.com"

_MAX_NODES = 50_000
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_BUNDLED_DIRS: tuple[Literal["bases", "templates"], ...] = ("bases", "templates")


def find_podfile(directory: str | os.PathLike[str]) -> Path | None:
    """The project's Podfile: ``podfile.yaml``, else ``.podspawn/podfile.yaml``, else None."""
    for name in PODFILE_NAMES:
        candidate = Path(directory, name)
        if candidate.is_file():
            return candidate
    return None


def load_podfile(
    directory: str | os.PathLike[str],
    *,
    fetch: Fetcher | None = None,
    remote_base_url: str = DEFAULT_REMOTE_BASE_URL,
    allowed_bind_roots: Sequence[str] = (),
    session_cap_add: Sequence[str] = (),
    service_cap_add: Sequence[str] = (),
) -> LoadedPodfile:
    """Load the Podfile of the project in ``directory``, or convert its devcontainer.json.

    ``fetch`` reads remote ``extends``; None refuses them. ``allowed_bind_roots`` lists the
    host directories the admin lets services bind-mount (:func:`check_policy`);
    ``session_cap_add`` and ``service_cap_add`` the capabilities a Compose file's
    ``cap_add`` may name (the server grants them anyway; any other is refused).

    Raises:
        PodfileError: no Podfile or devcontainer.json, or any problem loading, resolving,
            merging or validating it; the message names the files and every problem.
    """
    root = Path(directory)
    path = find_podfile(root)
    if path is not None:
        warnings: list[str] = []
        ignored = [name for name in PODFILE_NAMES if Path(root, name).is_file()][1:]
        if ignored:
            warnings.append(
                f"both {PODFILE_NAMES[0]} and {ignored[0]} exist; using {PODFILE_NAMES[0]} "
                f"and ignoring {ignored[0]}"
            )
        loaded = load_file(
            path,
            root=root,
            fetch=fetch,
            remote_base_url=remote_base_url,
            allowed_bind_roots=allowed_bind_roots,
        )
        return LoadedPodfile(
            podfile=loaded.podfile,
            origin="podfile",
            sources=loaded.sources,
            warnings=(*warnings, *loaded.warnings),
        )
    from podspawn.podfile.devcontainer import find_devcontainer

    found = find_devcontainer(root)
    if found is None:
        raise PodfileError(
            "this project has no podfile.yaml, .podspawn/podfile.yaml or devcontainer.json; "
            "create one with: podspawn init"
        )
    display = _relative(found, root)
    _require_inside(found, root)
    from podspawn.podfile.compose import ComposePolicy

    policy = ComposePolicy(allowed_bind_roots=allowed_bind_roots,
                           session_cap_add=session_cap_add, service_cap_add=service_cap_add)
    data, dc_warnings, build, sources = _load_devcontainer(found, root, display, policy)
    podfile = validate(data, sources=sources)
    check_policy(podfile, allowed_bind_roots=allowed_bind_roots, sources=sources)
    return LoadedPodfile(
        podfile=podfile,
        origin="devcontainer",
        sources=sources,
        warnings=tuple(f"{display}: {text}" for text in dc_warnings),
        build=build,
    )


def _load_devcontainer(
    found: Path, root: Path, display: str, policy: ComposePolicy
) -> tuple[dict[str, Any], list[str], BuildSpec | None, tuple[str, ...]]:
    """The converted devcontainer.json, how its base is built (or None), and the files
    involved."""
    from podspawn.podfile.build_context import parse_build
    from podspawn.podfile.devcontainer import convert_devcontainer, read_devcontainer

    config = read_devcontainer(found, display=display)
    folder = posixpath.dirname(display) or "."
    try:
        if "dockerComposeFile" in config:
            return load_compose_devcontainer(config, root, display, folder, policy)
        build = None if config.get("image") else parse_build(config, folder=folder)
        data, warnings = convert_devcontainer(config, built_base=_built_base(root, build))
    except PodfileError as exc:
        raise PodfileError(f"{display}: {exc.message}") from None
    return data, warnings, build, (display,)


def _built_base(root: Path, build: BuildSpec | None) -> str:
    """``podspawn/build:<digest>`` of a build's Dockerfile and context, "" for no build."""
    from podspawn.names import image_name
    from podspawn.podfile.build_context import context_digest, read_dockerfile

    if build is None:
        return ""
    return image_name("build", context_digest(root, build, read_dockerfile(root, build)))


def load_compose_devcontainer(
    config: dict[str, Any], root: Path, display: str, folder: str, policy: ComposePolicy
) -> tuple[dict[str, Any], list[str], BuildSpec | None, tuple[str, ...]]:
    """A Compose-based devcontainer.json: the service's base, env and ports under the
    devcontainer.json's own, the other services as companions, how the base is built (or
    None) and the files involved.

    Raises:
        PodfileError: a Compose file cannot be read, is invalid, or asks for what is refused.
    """
    from podspawn.podfile.compose import load_compose
    from podspawn.podfile.devcontainer import convert_devcontainer

    result = load_compose(root, config, folder=folder, policy=policy)
    base = _built_base(root, result.build) or result.image
    rest = {key: value for key, value in config.items() if key != "image"}
    data, warnings = convert_devcontainer(rest, built_base=base)
    if "image" in config:
        warnings.append("image is ignored, since dockerComposeFile is set")
    env = {**result.env, **data.get("env", {})}
    if env:
        data["env"] = env
    if result.workspace and "workspace" not in data:
        data["workspace"] = result.workspace
    expose = list(data.get("ports", {}).get("expose", []))
    expose += [port for port in result.ports if port not in expose]
    if expose:
        data["ports"] = {"expose": expose}
    if result.services:
        data["services"] = result.services
    shown = ", ".join(result.sources)
    warnings.extend(f"{shown}: {text}" for text in result.warnings)
    return data, warnings, result.build, (display, *result.sources)


def load_file(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    fetch: Fetcher | None = None,
    remote_base_url: str = DEFAULT_REMOTE_BASE_URL,
    allowed_bind_roots: Sequence[str] = (),
) -> LoadedPodfile:
    """Load one Podfile file; local ``extends`` must stay inside ``root`` (default: its dir).

    Raises:
        PodfileError: as :func:`load_podfile`.
    """
    file = Path(path)
    base = Path(root) if root is not None else file.parent
    _require_inside(file, base)
    resolver = _Resolver(root=base, fetch=fetch, remote_base_url=remote_base_url)
    top = _Source(kind="file", key=str(file.resolve()), display=_relative(file, base), path=file)
    return resolver.load(top, allowed_bind_roots)


def parse_podfile(
    text: str,
    *,
    name: str = "podfile.yaml",
    directory: str | os.PathLike[str] | None = None,
    fetch: Fetcher | None = None,
    remote_base_url: str = DEFAULT_REMOTE_BASE_URL,
    allowed_bind_roots: Sequence[str] = (),
) -> LoadedPodfile:
    """Load a Podfile given as text, such as one read from a git object.

    ``name`` is how messages call it; relative ``extends`` resolve against ``directory``
    (and must stay in it), or are refused when it is None.

    Raises:
        PodfileError: as :func:`load_podfile`.
    """
    base = Path(directory) if directory is not None else None
    resolver = _Resolver(root=base, fetch=fetch, remote_base_url=remote_base_url)
    path = (base / name) if base is not None else None
    top = _Source(kind="text", key=f"text:{name}", display=name, path=path, text=text)
    return resolver.load(top, allowed_bind_roots)


def validate(data: Mapping[str, Any], *, sources: Sequence[str] = ("podfile.yaml",)) -> Podfile:
    """Validate a resolved Podfile dict (``extends`` merged away).

    Raises:
        PodfileError: one line per problem, under a line naming ``sources``.
    """
    try:
        return Podfile.model_validate(data)
    except ValidationError as exc:
        lines = format_errors(exc)
        raise PodfileError(
            _header(sources, len(lines)) + "".join(f"\n  {line}" for line in lines)
        ) from None


def check_policy(
    podfile: Podfile,
    *,
    allowed_bind_roots: Sequence[str] = (),
    sources: Sequence[str] = ("podfile.yaml",),
) -> None:
    """Refuse what the admin has not allowed: service and dev container volumes from host
    paths.

    A Podfile comes from a repository, so a host bind mount in it would let anyone who can
    push to the repository read or write the host. Only named volumes pass, unless the host
    path lies under one of ``allowed_bind_roots`` (absolute directories), compared component
    by component as written. This check is lexical on purpose: what is on disk (a symlink
    planted in an allowed directory, a missing directory) can change after the Podfile is
    loaded, so the server checks that when it creates each container
    (:mod:`podspawn.services.binds`), and the Podfile layer stays free of host I/O.

    Raises:
        PodfileError: one line per refused volume.
        ValueError: an entry of ``allowed_bind_roots`` is not an absolute path.
    """
    for root in allowed_bind_roots:
        if not root.startswith("/"):
            raise ValueError(f"allowed bind root {root!r} must be an absolute path")
    problems = []
    for s_index, service in enumerate(podfile.services):
        for v_index, spec in enumerate(service.volumes):
            source, target = spec.split(":")[:2]
            if not source.startswith("/") or bind_parts(source, allowed_bind_roots):
                continue
            volume = posixpath.basename(target.rstrip("/")) or "data"
            problems.append(
                f"services.{s_index}.volumes.{v_index}: host path {source} is not allowed on "
                f"this server; use a named volume such as {volume}:{target}"
            )
    for v_index, spec in enumerate(podfile.volumes):
        source, target = spec.split(":")[:2]
        if source.startswith("/") and not bind_parts(source, allowed_bind_roots):
            volume = posixpath.basename(target.rstrip("/")) or "data"
            problems.append(
                f"volumes.{v_index} ({spec}): host path {source} is not allowed on this "
                f"server (security.allowed_bind_roots); use a named volume such as "
                f"{volume}:{target}"
            )
    if problems:
        raise PodfileError(
            _header(sources, len(problems)) + "".join(f"\n  {line}" for line in problems)
        )


class _PodfileWording(Wording):
    patterns = PATTERN_HINTS

    def show(self, value: object) -> str:
        return _show(value)

    def unknown_key(self, loc: list[str | int]) -> str:
        return "unknown key" + _suggest(loc)

    def missing(self, loc: list[str | int]) -> str:
        if loc == ["base"]:
            return "Field required (set a base image, or inherit one with extends)"
        return "Field required"


def format_errors(exc: ValidationError) -> list[str]:
    """One ``dotted.location: problem`` line per error, without pydantic's own formatting."""
    return describe_errors(exc.errors(include_url=False), _PodfileWording())


def http_fetcher(*, timeout: float = 15.0, max_bytes: int = MAX_PODFILE_BYTES) -> Fetcher:
    """A fetcher over urllib for remote ``extends``, for callers that allow network access.

    The returned function accepts only http and https URLs and at most ``max_bytes``.
    """

    def fetch(url: str) -> str:
        import urllib.request

        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("only http and https URLs can be fetched")
        request = urllib.request.Request(url, headers={"User-Agent": "podspawn"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ValueError(f"larger than {max_bytes} bytes")
        return data.decode("utf-8")

    return fetch


# --- resolution -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    kind: Literal["file", "text", "bundled", "url"]
    key: str
    """Identity for cycle detection: a resolved path, a URL or ``bundled:<dir>/<name>``."""
    display: str
    path: Path | None = None
    url: str | None = None
    text: str | None = None
    bundled: str | None = None
    bundled_kind: Literal["bases", "templates"] | None = None


@dataclass
class _Resolver:
    root: Path | None
    fetch: Fetcher | None
    remote_base_url: str
    sources: list[str] = field(default_factory=list)

    def load(self, top: _Source, allowed_bind_roots: Sequence[str]) -> LoadedPodfile:
        merged = self._resolve(top, [top])
        sources = tuple(self.sources)
        podfile = validate(merged, sources=sources)
        check_policy(podfile, allowed_bind_roots=allowed_bind_roots, sources=sources)
        return LoadedPodfile(podfile=podfile, origin="podfile", sources=sources)

    def _resolve(self, source: _Source, chain: list[_Source]) -> dict[str, Any]:
        doc = _parse_yaml(self._read(source), source.display)
        self.sources.append(source.display)
        ref = doc.get("extends", doc.get("extends!"))
        if ref is None:
            markers = removal_markers(doc)
            if markers:
                raise PodfileError(
                    f"{source.display}: {', '.join(markers)} removes an inherited item, but "
                    "this file has no extends; delete the '!' entry or add extends"
                )
            return self._merge({}, doc, source)
        if not isinstance(ref, str) or not ref.strip():
            raise PodfileError(
                f"{source.display}: extends must name a base, such as ubuntu-dev or ./base.yaml"
            )
        parent = self._locate(ref.strip(), source)
        names = " -> ".join(item.display for item in (*chain, parent))
        if any(item.key == parent.key for item in chain):
            raise PodfileError(f"extends loops back on itself: {names}")
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise PodfileError(
                f"extends chain is deeper than {MAX_EXTENDS_DEPTH} levels: {names}; "
                "flatten some of these bases"
            )
        resolved = self._resolve(parent, [*chain, parent])
        return self._merge(resolved, doc, source)

    @staticmethod
    def _merge(parent: dict[str, Any], doc: dict[str, Any], source: _Source) -> dict[str, Any]:
        try:
            return merge(parent, doc)
        except PodfileError as exc:
            raise PodfileError(f"{source.display}: {exc.message}") from None

    def _read(self, source: _Source) -> str:
        if source.text is not None:
            text = source.text
        elif source.kind == "bundled":
            assert source.bundled is not None
            assert source.bundled_kind is not None
            text = bundled_text(source.bundled_kind, source.bundled)
        elif source.kind == "url":
            assert source.url is not None
            text = self._fetch(source)
        else:
            assert source.path is not None
            try:
                with source.path.open("rb") as handle:
                    data = handle.read(MAX_PODFILE_BYTES + 1)
            except FileNotFoundError:
                raise PodfileError(f"{source.display} does not exist") from None
            except OSError as exc:
                raise PodfileError(
                    f"{source.display} cannot be read ({exc.strerror or 'I/O error'})",
                    detail=str(source.path),
                ) from None
            if len(data) > MAX_PODFILE_BYTES:
                raise PodfileError(f"{source.display} is larger than {MAX_PODFILE_BYTES} bytes")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise PodfileError(f"{source.display} is not UTF-8 text") from None
        return text

    def _fetch(self, source: _Source) -> str:
        assert source.url is not None
        if self.fetch is None:
            raise PodfileError(
                f"{source.display} is a remote base, and remote extends are turned off here; "
                "copy the base into the repository and extend it by path"
            )
        try:
            text = self.fetch(source.url)
        except PodfileError:
            raise
        except (OSError, ValueError) as exc:
            raise PodfileError(
                f"could not fetch {source.display} ({_reason(exc)}); check the URL",
                detail=repr(exc),
            ) from None
        if len(text) > MAX_PODFILE_BYTES:
            raise PodfileError(f"{source.display} is larger than {MAX_PODFILE_BYTES} bytes")
        return text

    def _locate(self, ref: str, including: _Source) -> _Source:
        where = f"{including.display}: extends {ref}"
        if ref.startswith(("http://", "https://")):
            return _url_source(ref)
        if ref.startswith("github.com/"):
            return _url_source(_github_url(ref, self.remote_base_url, where))
        if ref.startswith((".", "/")) or ref.endswith((".yaml", ".yml")):
            return self._local(ref, including, where)
        if _NAME_RE.fullmatch(ref):
            return _bundled_source(ref, where)
        raise PodfileError(
            f"{where}: not a path, URL or base name; use ./file.yaml, a base such as "
            f"{', '.join(bundled_names('bases'))}, or an https:// URL"
        )

    def _local(self, ref: str, including: _Source, where: str) -> _Source:
        if including.kind == "url":
            assert including.url is not None
            return _url_source(urljoin(including.url, ref))
        if including.kind == "bundled":
            raise PodfileError(f"{where}: a bundled base can only extend other bundled bases")
        if self.root is None or including.path is None:
            raise PodfileError(f"{where}: a relative extends needs the Podfile's directory")
        target = (including.path.parent / ref).resolve()
        root = self.root.resolve()
        if not target.is_relative_to(root):
            raise PodfileError(
                f"{where}: the file is outside the project directory; only files in the "
                "project can be extended by path"
            )
        return _Source(kind="file", key=str(target), display=_relative(target, root), path=target)


def _bundled_source(name: str, where: str) -> _Source:
    for kind in _BUNDLED_DIRS:
        if name in bundled_names(kind):
            return _Source(
                kind="bundled",
                key=f"bundled:{kind}/{name}",
                display=f"bundled {kind[:-1]} {name}",
                bundled=name,
                bundled_kind=kind,
            )
    raise PodfileError(
        f"{where}: there is no bundled base of that name; choose one of "
        + ", ".join(bundled_names("bases"))
    )


def _url_source(url: str) -> _Source:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PodfileError(f"extends {_show(url)}: only http and https URLs can be fetched")
    # Credentials in a URL stay out of messages.
    shown = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                        parts.path, "", ""))
    return _Source(kind="url", key=urlunsplit(parts._replace(fragment="")), display=shown, url=url)


def _github_url(ref: str, base_url: str, where: str) -> str:
    parts = [part for part in ref.split("/")[1:] if part]
    if len(parts) < 2 or any(part in (".", "..") for part in parts):
        raise PodfileError(f"{where}: write github.com/<org>/<repo>[/<path>]")
    org, repo, rest = parts[0], parts[1], parts[2:]
    if not rest or rest[0] not in ("main", "master"):
        rest = ["main", *rest]
    if len(rest) == 1:
        rest.append("podfile.yaml")
    return "/".join([base_url.rstrip("/"), org, repo, *rest])


# --- YAML ---------------------------------------------------------------------------------


def _parse_yaml(text: str, display: str) -> dict[str, Any]:
    try:
        doc = yaml_text.load(text, unique_keys=True)
    except yaml_text.YamlSyntaxError as exc:
        if exc.line is None:
            raise PodfileError(f"{display}: invalid YAML ({exc.problem})") from None
        raise PodfileError(f"{display}: invalid YAML at line {exc.line}, column {exc.column}: "
                           f"{exc.problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise PodfileError(
            f"{display}: a Podfile must be a mapping of keys such as base: and packages:"
        )
    if _too_big(doc):
        raise PodfileError(f"{display}: the document is too large or too deeply aliased")
    return doc


def _too_big(doc: Any) -> bool:
    budget = _MAX_NODES
    stack = [doc]
    while stack:
        budget -= 1
        if budget < 0:
            return True
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# --- messages -----------------------------------------------------------------------------


def _header(sources: Sequence[str], count: int) -> str:
    top = sources[0] if sources else "the Podfile"
    extra = f" (with {', '.join(sources[1:])})" if len(sources) > 1 else ""
    problems = "1 problem" if count == 1 else f"{count} problems"
    return f"{top}{extra} is not a valid Podfile, {problems}:"


def _suggest(loc: list[Any]) -> str:
    key = str(loc[-1]) if loc else ""
    matches = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]}?" if matches else ""


def _fields_at(loc: Iterable[Any]) -> list[str]:
    model: type[BaseModel] = Podfile
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(str(part))
        nested = _model_in(info.annotation) if info is not None else None
        if nested is None:
            return []
        model = nested
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _require_inside(path: Path, root: Path) -> None:
    """Refuse a project file that is a symlink out of the project (say, to a server config),
    whose keys and values would otherwise be echoed in error messages."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise PodfileError(
            f"{Path(os.path.relpath(path.absolute(), root.absolute())).as_posix()} points "
            "outside the project "
            "directory; a Podfile must be a file in the project"
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:
        return path.name


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(reason)[:120] or type(exc).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
