"""The merge rules, as a table of (parent, child, expected) plus the chain cases."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import merge, removal_markers

CASES = [
    pytest.param({"base": "ubuntu:22.04"}, {"base": "debian:bookworm"},
                 {"base": "debian:bookworm"}, id="scalar-replaces"),
    pytest.param({"base": "ubuntu:22.04", "shell": "/bin/zsh"}, {"shell": None},
                 {"base": "ubuntu:22.04", "shell": "/bin/zsh"}, id="null-keeps-parent"),
    pytest.param({"base": "b", "shell": "/bin/zsh"}, {},
                 {"base": "b", "shell": "/bin/zsh"}, id="shell-is-inherited"),
    pytest.param({"name": "parent", "base": "b"}, {}, {"base": "b"}, id="name-not-inherited"),
    pytest.param({"name": "parent"}, {"name": "child"}, {"name": "child"}, id="name-from-child"),
    pytest.param({"base": "b"}, {"extends": "minimal"}, {"base": "b"}, id="extends-dropped"),
    pytest.param({"resources": {"cpus": 2, "memory": "4g"}}, {"resources": {"memory": "8g"}},
                 {"resources": {"cpus": 2, "memory": "8g"}}, id="resources-per-field"),
    pytest.param({"resources": {"cpus": 2, "memory": "4g"}}, {"resources!": None},
                 {}, id="bang-null-resets"),
    pytest.param({"ports": {"expose": [3000], "strategy": "auto"}},
                 {"ports": {"strategy": "expose"}},
                 {"ports": {"expose": [3000], "strategy": "expose"}}, id="mapping-deep"),
    pytest.param({"packages": ["git", "curl"]}, {"packages": ["go", "git"]},
                 {"packages": ["git", "curl", "go"]}, id="packages-append-dedupe"),
    pytest.param({"packages": ["go@1.24", "git"]}, {"packages": ["go@1.25"]},
                 {"packages": ["go@1.25", "git"]}, id="packages-version-in-place"),
    pytest.param({"packages": ["git", "neovim"]}, {"packages!": ["vim"]},
                 {"packages": ["vim"]}, id="packages-bang-replaces"),
    pytest.param({"packages": ["git", "neovim", "jq"]}, {"packages": ["!neovim"]},
                 {"packages": ["git", "jq"]}, id="packages-removal"),
    pytest.param({"packages": ["go@1.24", "git"]}, {"packages": ["!go"]},
                 {"packages": ["git"]}, id="packages-removal-any-version"),
    pytest.param({"packages": ["go@1.24", "git"]}, {"packages": ["!go@1.23"]},
                 {"packages": ["go@1.24", "git"]}, id="packages-removal-exact-version"),
    pytest.param({"packages": ["git"]}, {"packages": ["!absent"]},
                 {"packages": ["git"]}, id="packages-removal-of-absent-is-noop"),
    pytest.param({"packages": ["go@1.24"]}, {"packages": ["!go", "go@1.25"]},
                 {"packages": ["go@1.25"]}, id="packages-remove-then-add"),
    pytest.param({"env": {"A": "1", "B": "2"}}, {"env": {"B": "3", "C": "4"}},
                 {"env": {"A": "1", "B": "3", "C": "4"}}, id="env-union-child-wins"),
    pytest.param({"env": {"A": "1", "B": "2"}}, {"env": {"A": ""}},
                 {"env": {"B": "2"}}, id="env-empty-deletes"),
    pytest.param({"env": {"A": "1", "B": "2"}}, {"env!": {"C": "3"}},
                 {"env": {"C": "3"}}, id="env-bang-replaces"),
    pytest.param({"on_create": "make deps"}, {"on_create": "make test"},
                 {"on_create": "make deps\nmake test"}, id="hook-parent-first"),
    pytest.param({"on_start": "a\n"}, {"on_start": "b\n"},
                 {"on_start": "a\nb\n"}, id="hook-block-scalars"),
    pytest.param({"on_start": "a"}, {"on_start!": "b"}, {"on_start": "b"}, id="hook-bang"),
    pytest.param({"on_start": "a"}, {"on_start": ""}, {"on_start": "a"}, id="hook-empty-adds"),
    pytest.param({"extra_commands": ["a", "b"]}, {"extra_commands": ["c", "a"]},
                 {"extra_commands": ["a", "b", "c", "a"]}, id="extra-commands-append"),
    pytest.param({"extra_commands": ["a", "b"]}, {"extra_commands": ["!a"]},
                 {"extra_commands": ["b"]}, id="extra-commands-removal"),
    pytest.param({"ports": {"expose": [3000, 8080]}}, {"ports": {"expose": [8080, 5173]}},
                 {"ports": {"expose": [3000, 8080, 5173]}}, id="expose-append-dedupe"),
    pytest.param({"ports": {"expose": [3000, 8080]}}, {"ports": {"expose": ["!8080"]}},
                 {"ports": {"expose": [3000]}}, id="expose-removal"),
    pytest.param(
        {"services": [{"name": "db", "image": "postgres:16", "env": {"A": "1", "B": "2"}}]},
        {"services": [{"name": "db", "image": "postgres:17", "env": {"B": ""}}]},
        {"services": [{"name": "db", "image": "postgres:17", "env": {"A": "1"}}]},
        id="service-merged-by-name",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p"}]},
        {"services": [{"name": "cache", "image": "redis:7"}]},
        {"services": [{"name": "db", "image": "p"}, {"name": "cache", "image": "redis:7"}]},
        id="service-appended",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p"}, {"name": "redis", "image": "r"}]},
        {"services": [{"name": "!redis"}]},
        {"services": [{"name": "db", "image": "p"}]},
        id="service-removed",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p", "volumes": ["a:/a"]}]},
        {"services": [{"name": "!db"}, {"name": "db", "image": "q"}]},
        {"services": [{"name": "db", "image": "q"}]},
        id="service-replaced-by-remove-and-add",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p"}]},
        {"services!": [{"name": "cache", "image": "r"}]},
        {"services": [{"name": "cache", "image": "r"}]},
        id="services-bang",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p", "volumes": ["a:/a", "b:/b"]}]},
        {"services": [{"name": "db", "volumes": ["c:/c"]}]},
        {"services": [{"name": "db", "image": "p", "volumes": ["c:/c"]}]},
        id="other-lists-replace",
    ),
    pytest.param(
        {"services": [{"name": "db", "image": "p", "resources": {"cpus": 2, "memory": "1g"}}]},
        {"services": [{"name": "db", "resources": {"memory": "4g"}}]},
        {"services": [{"name": "db", "image": "p", "resources": {"cpus": 2, "memory": "4g"}}]},
        id="service-resources-per-field",
    ),
    pytest.param(
        {"repos": [{"url": "u1", "branch": "main"}, {"url": "u2"}]},
        {"repos": [{"url": "u1", "path": "/src/one"}, {"url": "!u2"}, {"url": "u3"}]},
        {"repos": [{"url": "u1", "branch": "main", "path": "/src/one"}, {"url": "u3"}]},
        id="repos-by-url",
    ),
    pytest.param({"dotfiles": {"repo": "a", "install": "./install.sh"}},
                 {"dotfiles": {"repo": "b"}},
                 {"dotfiles": {"repo": "b"}}, id="dotfiles-replaced-whole"),
    pytest.param({"packages": ["git"]}, {"packages": "vim"},
                 {"packages": "vim"}, id="type-mismatch-child-wins"),
]


@pytest.mark.parametrize(("parent", "child", "expected"), CASES)
def test_merge_rule(parent: dict[str, Any], child: dict[str, Any], expected: Any) -> None:
    assert merge(parent, child) == expected


def test_three_level_chain() -> None:
    grandparent = merge({}, {"base": "ubuntu:24.04", "packages": ["git", "neovim"],
                             "on_create": "echo grandparent", "env": {"A": "1"}})
    parent = merge(grandparent, {"packages": ["go"], "on_create": "echo parent",
                                 "env": {"B": "2"}})
    child = merge(parent, {"packages": ["npm", "!neovim"], "on_create": "echo child",
                           "env": {"A": ""}})
    assert child == {
        "base": "ubuntu:24.04",
        "packages": ["git", "go", "npm"],
        "on_create": "echo grandparent\necho parent\necho child",
        "env": {"B": "2"},
    }


def test_normalizing_a_single_document() -> None:
    doc = {"base": "b", "packages!": ["git"], "env": {"A": "", "B": "x"},
           "services": [{"name": "db", "image": "p", "env!": {"C": "1"}}]}
    assert merge({}, doc) == {
        "base": "b",
        "packages": ["git"],
        "env": {"B": "x"},
        "services": [{"name": "db", "image": "p", "env": {"C": "1"}}],
    }


def test_inputs_are_not_mutated_and_not_shared() -> None:
    parent = {"packages": ["git"], "env": {"A": "1"},
              "services": [{"name": "db", "image": "p", "env": {"X": "1"}}]}
    child = {"packages": ["!git", "jq"], "env": {"A": ""},
             "services": [{"name": "db", "env": {"Y": "2"}}, {"name": "new", "image": "n"}]}
    before = (copy.deepcopy(parent), copy.deepcopy(child))
    result = merge(parent, child)
    assert (parent, child) == before
    result["services"][0]["env"]["Z"] = "3"
    result["services"][1]["image"] = "changed"
    assert (parent, child) == before


@pytest.mark.parametrize(
    ("child", "message"),
    [
        ({"packages": ["git"], "packages!": ["vim"]},
         "packages: write either packages or packages!, not both"),
        ({"resources": {"cpus": 1, "cpus!": 2}},
         "resources.cpus: write either cpus or cpus!, not both"),
        ({"services": [{"name": "db", "image": "a"}, {"name": "db", "image": "b"}]},
         "services: duplicate name 'db'"),
        ({"repos": [{"url": "u"}, {"url": "u"}]}, "repos: duplicate url 'u'"),
        ({"packages": ["go@1.24", "go@1.25"]}, "packages: go is listed twice (go@1.24, go@1.25)"),
    ],
)
def test_conflicts_in_the_child_are_errors(child: dict[str, Any], message: str) -> None:
    with pytest.raises(PodfileError) as info:
        merge({}, child)
    assert info.value.message == message


def test_identical_duplicates_collapse() -> None:
    assert merge({}, {"packages": ["git", "git"]}) == {"packages": ["git"]}


def test_removal_markers_are_found() -> None:
    doc = {"packages": ["git", "!neovim"], "services": [{"name": "!redis"}],
           "ports": {"expose": ["!8080"]}, "extra_commands": ["!make"],
           "repos": [{"url": "!u"}], "env": {"A": "!not-a-marker"}}
    assert removal_markers(doc) == [
        "packages.1", "services.0", "ports.expose.0", "extra_commands.0", "repos.0",
    ]
