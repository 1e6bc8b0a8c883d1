"""A devcontainer ``build``: its paths, its ``.dockerignore`` and what its digest covers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import load_podfile
from podspawn.podfile.build_context import (
    DOCKERFILE_NAME,
    BuildSpec,
    check_paths,
    context_digest,
    context_files,
    ignored,
    parse_build,
    parse_dockerignore,
    stage_context,
)
from tests.unit.podfile.conftest import WriteFile

DEVCONTAINER = '{"build": {"dockerfile": "Dockerfile", "context": ".."}}'


def spec_of(config: dict[str, Any], folder: str = ".devcontainer") -> BuildSpec:
    spec = parse_build(config, folder=folder)
    assert spec is not None
    return spec


def test_paths_are_relative_to_the_devcontainer_folder() -> None:
    spec = spec_of({"build": {"dockerfile": "Dockerfile", "context": "..",
                              "args": {"V": "1"}, "target": "dev"}})
    assert (spec.dockerfile, spec.context, dict(spec.args), spec.target) == (
        ".devcontainer/Dockerfile", ".", {"V": "1"}, "dev")
    assert spec_of({"build": {"dockerfile": "Dockerfile"}}).context == ".devcontainer"


def test_the_old_top_level_keys_are_read() -> None:
    spec = spec_of({"dockerFile": "../docker/Dockerfile", "context": "../docker"})
    assert (spec.dockerfile, spec.context) == ("docker/Dockerfile", "docker")
    assert (spec.dockerfile_key, spec.context_key) == ("dockerFile", "context")


def test_no_dockerfile_means_no_build() -> None:
    assert parse_build({"image": "debian:bookworm"}, folder=".") is None
    with pytest.raises(PodfileError, match="build has no dockerfile"):
        parse_build({"build": {"context": "."}}, folder=".")


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"build": {"dockerfile": "Dockerfile", "context": "../.."}}, "build.context"),
        ({"build": {"dockerfile": "../../etc/passwd"}}, "build.dockerfile"),
        ({"build": {"dockerfile": "Dockerfile", "context": "/etc"}}, "build.context"),
        ({"dockerFile": "/etc/shadow"}, "dockerFile"),
        ({"dockerFile": "Dockerfile", "context": "../../x"}, "context"),
    ],
)
def test_a_path_leaving_the_repository_is_refused_by_key(config: dict[str, Any],
                                                         key: str) -> None:
    with pytest.raises(PodfileError) as info:
        parse_build(config, folder=".devcontainer")
    assert info.value.message.startswith(f"{key} ")


def test_a_path_inside_the_repository_is_accepted_as_positive_control() -> None:
    assert spec_of({"build": {"dockerfile": "../a/../Dockerfile", "context": "../a"}}
                   ).context == "a"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"build": "Dockerfile"}, "build must be an object"),
        ({"build": {"dockerfile": 3}}, "build.dockerfile must be a non-empty path"),
        ({"build": {"dockerfile": "D", "args": {"A": 1}}}, "build.args must be an object"),
        ({"build": {"dockerfile": "D", "args": {"A-B": "1"}}}, "build.args 'A-B' is not"),
        ({"build": {"dockerfile": "D", "target": 1}}, "build.target must be a string"),
    ],
)
def test_bad_build_values_are_named(config: dict[str, Any], message: str) -> None:
    with pytest.raises(PodfileError, match=f"^{message}"):
        parse_build(config, folder=".")


def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path, write: WriteFile) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM debian\n")
    repo = tmp_path / "repo"
    (repo / ".devcontainer").mkdir(parents=True)
    os.symlink(outside, repo / "ctx")
    os.symlink(outside / "Dockerfile", repo / ".devcontainer" / "Dockerfile")
    (repo / "Dockerfile").write_text("FROM debian\n")
    with pytest.raises(PodfileError, match=r"^build\.context 'ctx' leads out of the repository"):
        check_paths(repo, BuildSpec(dockerfile="Dockerfile", context="ctx"))
    with pytest.raises(PodfileError,
                       match=r"^build\.dockerfile '\.devcontainer/Dockerfile' leads out"):
        check_paths(repo, BuildSpec(dockerfile=".devcontainer/Dockerfile", context="."))
    os.symlink(".devcontainer", repo / "inside")  # positive control: a link inside
    (repo / ".devcontainer" / "Dockerfile").unlink()
    (repo / ".devcontainer" / "Dockerfile").write_text("FROM debian\n")
    check_paths(repo, BuildSpec(dockerfile="inside/Dockerfile", context="inside"))


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "sub/a.log", False),  # root-relative, unlike .gitignore
        ("**/*.log", "sub/deep/a.log", True),
        ("**/*.log", "a.log", True),
        ("node_modules", "node_modules/x/y.js", True),
        ("/build/", "build/out", True),
        ("*\n!keep.txt", "keep.txt", False),
        ("*\n!keep.txt", "other.txt", True),
        ("!keep.txt\n*", "keep.txt", True),  # the last match wins
        ("# comment\n\n", "# comment", False),
        ("doc?", "docs", True),
        ("[ab].txt", "b.txt", True),
        ("[^a].txt", "a.txt", False),  # Go's negated class is [^...]
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("./secret", "secret", True),
    ],
)
def test_dockerignore_rules(patterns: str, path: str, excluded: bool) -> None:
    assert ignored(path, parse_dockerignore(patterns)) is excluded


@pytest.fixture
def repo(tmp_path: Path, write: WriteFile) -> Path:
    write(".devcontainer/devcontainer.json", DEVCONTAINER)
    write(".devcontainer/Dockerfile", "FROM debian:bookworm\nCOPY app.txt /opt/app.txt\n")
    write("app.txt", "one\n")
    write("README.md", "readme\n")
    write("logs/x.log", "noise\n")
    write(".dockerignore", "README.md\nlogs\n")
    write(".git/HEAD", "ref: refs/heads/main\n")
    return tmp_path


SPEC = BuildSpec(dockerfile=".devcontainer/Dockerfile", context=".")


def test_the_context_is_what_dockerignore_lets_through(repo: Path) -> None:
    assert context_files(repo, SPEC) == [
        ".devcontainer/Dockerfile", ".devcontainer/devcontainer.json", ".dockerignore",
        "app.txt",
    ]


def digest(repo: Path, spec: BuildSpec = SPEC) -> str:
    return context_digest(repo, spec, (repo / spec.dockerfile).read_text())


def test_the_digest_follows_the_context_and_nothing_else(repo: Path) -> None:
    first = digest(repo)
    (repo / "README.md").write_text("changed\n")
    (repo / "logs" / "x.log").write_text("changed\n")
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    assert digest(repo) == first
    (repo / "app.txt").write_text("two\n")
    second = digest(repo)
    assert second != first
    (repo / "app.txt").chmod(0o755)
    assert digest(repo) != second
    (repo / "app.txt").chmod(0o644)
    assert digest(repo) == second
    (repo / "new.txt").write_text("new\n")
    assert digest(repo) != second


def test_the_digest_covers_dockerfile_args_and_target(repo: Path) -> None:
    first = digest(repo)
    assert context_digest(repo, SPEC, "FROM debian:trixie\n") != first
    assert digest(repo, BuildSpec(dockerfile=SPEC.dockerfile, context=".",
                                  args={"A": "1"})) != first
    assert digest(repo, BuildSpec(dockerfile=SPEC.dockerfile, context=".",
                                  target="dev")) != first


def test_a_symlink_in_the_context_is_hashed_as_a_link(repo: Path) -> None:
    os.symlink("/etc/passwd", repo / "link")
    first = digest(repo)
    os.unlink(repo / "link")
    os.symlink("/etc/hostname", repo / "link")
    assert digest(repo) != first


def test_the_staged_copy_hashes_the_same(repo: Path, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    os.symlink("app.txt", repo / "link")
    staged = tmp_path_factory.mktemp("staged")
    stage_context(repo, SPEC, str(staged))
    assert sorted(p.name for p in staged.iterdir()) == [
        ".devcontainer", ".dockerignore", "app.txt", "link"]
    assert os.readlink(staged / "link") == "app.txt"
    dockerfile = (repo / SPEC.dockerfile).read_text()
    assert context_digest(staged, SPEC, dockerfile) == context_digest(repo, SPEC, dockerfile)


def test_a_file_with_podspawns_dockerfile_name_is_refused(repo: Path) -> None:
    (repo / DOCKERFILE_NAME).write_text("x")
    with pytest.raises(PodfileError, match=f"holds a file named {DOCKERFILE_NAME}"):
        context_files(repo, SPEC)


def test_load_podfile_names_the_built_base(repo: Path) -> None:
    loaded = load_podfile(repo)
    assert loaded.build == BuildSpec(dockerfile=".devcontainer/Dockerfile", context=".",
                                     dockerfile_key="build.dockerfile",
                                     context_key="build.context")
    assert loaded.podfile.base == f"podspawn/build:{digest(repo)}"
    tag = loaded.image_tag("proj")
    (repo / "README.md").write_text("changed\n")
    assert load_podfile(repo).image_tag("proj") == tag
    (repo / "app.txt").write_text("two\n")
    assert load_podfile(repo).image_tag("proj") != tag


def test_load_podfile_refuses_an_escaping_context_naming_file_and_key(
        tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/devcontainer.json",
          '{"build": {"dockerfile": "Dockerfile", "context": "../.."}}')
    with pytest.raises(PodfileError) as info:
        load_podfile(tmp_path)
    assert info.value.message.startswith(
        ".devcontainer/devcontainer.json: build.context '../..' leaves the repository")
