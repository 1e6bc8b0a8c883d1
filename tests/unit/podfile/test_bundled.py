"""Shipped bases and init templates, and template detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import (
    TEMPLATE_NAMES,
    bundled_names,
    bundled_text,
    detect,
    detect_marker,
    parse_podfile,
    render_recipe,
    template_text,
)


@pytest.mark.parametrize(
    ("files", "template"),
    [
        (["package.json"], "node"),
        (["pyproject.toml"], "python"),
        (["setup.py"], "python"),
        (["requirements.txt"], "python"),
        (["go.mod"], "go"),
        (["Cargo.toml"], "rust"),
        ([], "generic"),
        (["README.md", "Makefile"], "generic"),
        (["go.mod", "package.json"], "go"),
        (["Cargo.toml", "package.json"], "rust"),
        (["pyproject.toml", "package.json"], "python"),
    ],
)
def test_detect(tmp_path: Path, files: list[str], template: str) -> None:
    for name in files:
        (tmp_path / name).write_text("")
    assert detect(tmp_path) == template


def test_detect_ignores_directories_named_like_markers(tmp_path: Path) -> None:
    (tmp_path / "go.mod").mkdir()
    assert detect_marker(tmp_path) == ("generic", None)


def test_detect_marker_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("")
    assert detect_marker(tmp_path) == ("python", "requirements.txt")


def test_the_shipped_templates_are_the_documented_ones() -> None:
    assert sorted(TEMPLATE_NAMES) == bundled_names("templates")
    assert bundled_names("bases") == ["data-science", "debian-dev", "minimal", "ubuntu-dev"]


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_validates_and_renders(name: str) -> None:
    loaded = parse_podfile(template_text(name), name="podfile.yaml")
    assert render_recipe(loaded.podfile).startswith("# Image recipe")


@pytest.mark.parametrize("name", ["data-science", "debian-dev", "minimal", "ubuntu-dev"])
def test_base_validates_and_renders(name: str) -> None:
    loaded = parse_podfile(f"extends: {name}\n")
    assert render_recipe(loaded.podfile).startswith("# Image recipe")


@pytest.mark.parametrize(
    ("kind", "name"),
    [("templates", name) for name in TEMPLATE_NAMES]
    + [("bases", name) for name in ["data-science", "debian-dev", "minimal", "ubuntu-dev"]],
)
def test_no_hard_coded_home(kind: str, name: str) -> None:
    text = bundled_text(kind, name)  # type: ignore[arg-type]
    assert "/home/" not in text
    assert "/root" not in text


def test_templates_expect_their_runtime() -> None:
    assert "nodejs@22" in parse_podfile(template_text("node")).podfile.packages
    assert "rust@stable" in parse_podfile(template_text("rust")).podfile.packages
    assert "go@1.25.0" in parse_podfile(template_text("go")).podfile.packages
    assert "python@3.12" in parse_podfile(template_text("python")).podfile.packages


def test_unknown_template() -> None:
    with pytest.raises(PodfileError) as info:
        template_text("cobol")
    assert info.value.message == (
        "there is no bundled template named 'cobol'; choose one of generic, go, node, python, rust"
    )
