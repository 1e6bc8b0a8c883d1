"""``podspawn init --from-devcontainer``: the Podfile a devcontainer.json amounts to, as text.

For a team switching to a Podfile: the same conversion add-project uses
(:func:`~podspawn.podfile.devcontainer.convert_devcontainer`), written as YAML, with a
comment for everything that has no Podfile equivalent (each conversion warning). A
``build`` section has none, since a Podfile names its base image: the base written is the
``FROM`` of the stage the devcontainer builds, and the Dockerfile's other instructions are
listed as comments, to move into ``packages`` or ``extra_commands`` by hand.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Any

import yaml

from podspawn.errors import PodfileError
from podspawn.podfile.build_context import parse_build, read_dockerfile
from podspawn.podfile.devcontainer import (
    DEFAULT_BASE,
    convert_devcontainer,
    find_devcontainer,
    read_devcontainer,
)

_FROM_RE = re.compile(
    r"FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<name>\S+))?\s*", re.IGNORECASE
)
_ORDER = ("base", "env", "ports", "workspace", "on_create", "on_start")


def podfile_from_devcontainer(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """(the devcontainer.json's path relative to ``directory``, the Podfile text).

    Raises:
        PodfileError: there is no devcontainer.json, or it cannot be read or converted.
    """
    root = Path(directory)
    found = find_devcontainer(root)
    if found is None:
        raise PodfileError(f"{root} has no .devcontainer/devcontainer.json or "
                           ".devcontainer.json to convert")
    display = found.relative_to(root).as_posix()
    config = read_devcontainer(found, display=display)
    comments: list[str] = []
    try:
        if "dockerComposeFile" in config:
            return display, render(*_from_compose(root, config, display))
        base = ""
        build = None if config.get("image") else parse_build(
            config, folder=posixpath.dirname(display) or ".")
        if build is not None:
            dockerfile = read_dockerfile(root, build)
            base, steps = dockerfile_stage(dockerfile, build.target)
            comments.append(f"it built its image from {build.dockerfile}"
                            + (f" (stage {build.target})" if build.target else "")
                            + "; a Podfile names an image, so base is that stage's FROM"
                            + ("" if base else f" (not a plain image name; {DEFAULT_BASE} "
                               "instead)")
                            + ". Move these steps into packages or extra_commands:")
            comments.extend(f"    {step}" for step in steps)
        data, warnings = convert_devcontainer(config, built_base=base or DEFAULT_BASE)
    except PodfileError as exc:
        raise PodfileError(f"{display}: {exc.message}") from None
    comments.extend(warnings)
    if isinstance(config.get("features"), dict) and config["features"]:
        comments.append("features (" + ", ".join(config["features"]) + ") are installed only "
                        "when the project is registered from its devcontainer.json")
    return display, render(data, display, comments)


def _from_compose(root: Path, config: dict[str, Any], display: str
                  ) -> tuple[dict[str, Any], str, list[str]]:
    """The Podfile of a Compose-based config (its base the FROM of the service's build),
    the files it comes from, and the comments."""
    from podspawn.podfile.compose import ComposePolicy
    from podspawn.podfile.load import load_compose_devcontainer

    data, warnings, build, sources = load_compose_devcontainer(
        config, root, display, posixpath.dirname(display) or ".", ComposePolicy())
    if build is not None:
        base, steps = dockerfile_stage(read_dockerfile(root, build), build.target)
        data["base"] = base or DEFAULT_BASE
        warnings.insert(0, f"its service built its image from {build.dockerfile}; base is "
                        "that stage's FROM. Move these steps into packages or extra_commands:")
        warnings[1:1] = [f"    {step}" for step in steps]
    return data, ", ".join(sources), warnings


def dockerfile_stage(text: str, target: str = "") -> tuple[str, list[str]]:
    """(the base image of stage ``target``, or of the last stage; its other instructions).

    The base is "" when it uses a build argument or the stage cannot be found. A stage built
    on an earlier one takes that one's base and steps first.
    """
    stages: list[tuple[str, str, list[str]]] = []
    for line in _instructions(text):
        match = _FROM_RE.fullmatch(line)
        if match:
            stages.append((match["image"], (match["name"] or "").lower(), []))
        elif stages:
            stages[-1][2].append(line)
    chosen = [s for s in stages if s[1] == target.lower()] if target else stages[-1:]
    if not chosen:
        return "", []
    image, _name, steps = chosen[0]
    by_name = {name: (img, st) for img, name, st in stages if name}
    seen: set[str] = set()
    while image.lower() in by_name and image.lower() not in seen:
        seen.add(image.lower())
        image, earlier = by_name[image.lower()]
        steps = [*earlier, *steps]
    return ("" if "$" in image else image), steps


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, each on one line, comments dropped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        out.append((pending + line).strip())
        pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def render(data: dict[str, Any], source: str, comments: list[str]) -> str:
    """The Podfile YAML: a header naming ``source``, one ``#`` line per comment, the keys."""
    ordered = {key: data[key] for key in _ORDER if key in data}
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    lines = [f"# Podfile written by podspawn init --from-devcontainer from {source}."]
    if comments:
        lines.append("# Not carried over (no Podfile equivalent):")
        lines.extend(f"#   {text}" for text in comments)
    body = yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=1000)
    return "\n".join(lines) + "\n" + body
