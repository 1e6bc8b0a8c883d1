"""Finding the Podfile, resolving extends (local, bundled, remote), and error reports."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from podspawn.errors import PodfileError
from podspawn.podfile import (
    MAX_EXTENDS_DEPTH,
    Podfile,
    check_policy,
    find_podfile,
    http_fetcher,
    load_file,
    load_podfile,
    parse_podfile,
    validate,
)
from podspawn.podfile.bind_roots import bind_parts

from .conftest import WriteFile, problem_lines


class FakeFetcher:
    """Serves remote Podfiles from a dict and records what was asked."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = pages
        self.calls: list[str] = []

    def __call__(self, url: str) -> str:
        self.calls.append(url)
        if url not in self.pages:
            raise OSError(f"404 for {url}")
        return self.pages[url]


def load_error(directory: Path, **kwargs: object) -> PodfileError:
    with pytest.raises(PodfileError) as info:
        load_podfile(directory, **kwargs)  # type: ignore[arg-type]
    return info.value


# --- location ---------------------------------------------------------------------------


def test_root_podfile_wins_over_dot_podspawn(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "base: debian:bookworm\n")
    write(".podspawn/podfile.yaml", "base: ubuntu:24.04\n")
    loaded = load_podfile(tmp_path)
    assert loaded.podfile.base == "debian:bookworm"
    assert loaded.sources == ("podfile.yaml",)
    assert loaded.warnings == (
        "both podfile.yaml and .podspawn/podfile.yaml exist; using podfile.yaml and ignoring "
        ".podspawn/podfile.yaml",
    )


def test_dot_podspawn_podfile_is_found(tmp_path: Path, write: WriteFile) -> None:
    write(".podspawn/podfile.yaml", "base: ubuntu:24.04\n")
    assert find_podfile(tmp_path) == tmp_path / ".podspawn" / "podfile.yaml"
    loaded = load_podfile(tmp_path)
    assert loaded.sources == (".podspawn/podfile.yaml",)
    assert loaded.warnings == ()


def test_devcontainer_is_the_fallback(tmp_path: Path, write: WriteFile) -> None:
    write(".devcontainer/devcontainer.json", '{"image": "debian:bookworm", "otherKey": []}')
    loaded = load_podfile(tmp_path)
    assert loaded.origin == "devcontainer"
    assert loaded.podfile.base == "debian:bookworm"
    assert loaded.sources == (".devcontainer/devcontainer.json",)
    assert loaded.warnings == (
        ".devcontainer/devcontainer.json: otherKey is not supported and was ignored",
    )


def test_no_podfile_at_all(tmp_path: Path) -> None:
    assert find_podfile(tmp_path) is None
    assert load_error(tmp_path).message == (
        "this project has no podfile.yaml, .podspawn/podfile.yaml or devcontainer.json; "
        "create one with: podspawn init"
    )


# --- extends: local and bundled -----------------------------------------------------------


def test_local_extends_resolve_relative_to_the_including_file(
    tmp_path: Path, write: WriteFile
) -> None:
    write("podfile.yaml", "extends: ./env/dev.yaml\npackages: [npm]\n")
    write("env/dev.yaml", "extends: ../common/base.yaml\npackages: [go]\n")
    write("common/base.yaml", "base: debian:bookworm\npackages: [git]\n")
    loaded = load_podfile(tmp_path)
    assert loaded.podfile.packages == ("git", "go", "npm")
    assert loaded.sources == ("podfile.yaml", "env/dev.yaml", "common/base.yaml")


def test_dot_podspawn_podfile_may_extend_files_in_the_project(
    tmp_path: Path, write: WriteFile
) -> None:
    write(".podspawn/podfile.yaml", "extends: ../shared.yaml\n")
    write("shared.yaml", "base: debian:bookworm\n")
    assert load_podfile(tmp_path).sources == (".podspawn/podfile.yaml", "shared.yaml")


def test_local_extends_cannot_leave_the_project(tmp_path: Path, write: WriteFile) -> None:
    write("outside.yaml", "base: debian:bookworm\n")
    write("project/podfile.yaml", "extends: ../outside.yaml\n")
    error = load_error(tmp_path / "project")
    assert error.message == (
        "podfile.yaml: extends ../outside.yaml: the file is outside the project directory; "
        "only files in the project can be extended by path"
    )
    assert str(tmp_path) not in error.message


def test_local_extends_cannot_follow_a_symlink_out(tmp_path: Path, write: WriteFile) -> None:
    write("secret.yaml", "base: x\n")
    write("project/podfile.yaml", "extends: ./link.yaml\n")
    os.symlink(tmp_path / "secret.yaml", tmp_path / "project" / "link.yaml")
    assert "outside the project directory" in load_error(tmp_path / "project").message


def test_podfile_symlinked_out_of_the_project_is_refused(
    tmp_path: Path, write: WriteFile
) -> None:
    write("server/config.yaml", "base: 'secret value'\n")
    (tmp_path / "project").mkdir()
    os.symlink(tmp_path / "server" / "config.yaml", tmp_path / "project" / "podfile.yaml")
    error = load_error(tmp_path / "project")
    assert error.message == (
        "podfile.yaml points outside the project directory; a Podfile must be a file in the "
        "project"
    )


def test_devcontainer_symlinked_out_of_the_project_is_refused(
    tmp_path: Path, write: WriteFile
) -> None:
    write("server/x.json", '{"image": "secret value"}')
    (tmp_path / "project").mkdir()
    os.symlink(tmp_path / "server" / "x.json", tmp_path / "project" / ".devcontainer.json")
    assert "points outside the project directory" in load_error(tmp_path / "project").message


def test_missing_local_base(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: ./nope.yaml\n")
    assert load_error(tmp_path).message == "nope.yaml does not exist"


def test_bundled_base_by_name(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: ubuntu-dev\npackages: ['!neovim', nodejs@22]\n")
    loaded = load_podfile(tmp_path)
    assert loaded.podfile.base == "ubuntu:24.04"
    assert "neovim" not in loaded.podfile.packages
    assert loaded.podfile.packages[-1] == "nodejs@22"
    assert loaded.sources == ("podfile.yaml", "bundled base ubuntu-dev")


def test_bundled_base_extending_another(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: debian-dev\n")
    loaded = load_podfile(tmp_path)
    assert loaded.podfile.base == "debian:bookworm"
    assert "ripgrep" in loaded.podfile.packages
    assert loaded.sources == ("podfile.yaml", "bundled base debian-dev", "bundled base ubuntu-dev")


def test_unknown_bundled_name(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: nosuchbase\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: extends nosuchbase: there is no bundled base of that name; choose one of "
        "data-science, debian-dev, minimal, ubuntu-dev"
    )


def test_unrecognised_extends(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: team/base\n")
    assert load_error(tmp_path).message.startswith(
        "podfile.yaml: extends team/base: not a path, URL or base name"
    )


def test_the_base_shell_is_inherited(tmp_path: Path, write: WriteFile) -> None:
    write("base.yaml", "base: debian:bookworm\nshell: /bin/zsh\npackages: [zsh]\n")
    write("podfile.yaml", "extends: base.yaml\n")
    assert load_podfile(tmp_path).podfile.shell == "/bin/zsh"


def test_name_is_not_inherited(tmp_path: Path, write: WriteFile) -> None:
    write("base.yaml", "base: debian:bookworm\nname: base\n")
    write("podfile.yaml", "extends: base.yaml\n")
    assert load_podfile(tmp_path).podfile.name is None


def test_base_may_be_partial_until_the_chain_is_merged(tmp_path: Path, write: WriteFile) -> None:
    write("tools.yaml", "packages: [git]\n")
    write("podfile.yaml", "extends: tools.yaml\nbase: debian:bookworm\n")
    assert load_podfile(tmp_path).podfile.packages == ("git",)


# --- extends: remote --------------------------------------------------------------------


def test_remote_url_through_the_fetcher(tmp_path: Path, write: WriteFile) -> None:
    fetch = FakeFetcher({
        "https://podfiles.example/team/base.yaml": "extends: ./common.yaml\npackages: [go]\n",
        "https://podfiles.example/team/common.yaml": "base: debian:bookworm\npackages: [git]\n",
    })
    write("podfile.yaml", "extends: https://podfiles.example/team/base.yaml\npackages: [npm]\n")
    loaded = load_podfile(tmp_path, fetch=fetch)
    assert loaded.podfile.packages == ("git", "go", "npm")
    assert fetch.calls == [
        "https://podfiles.example/team/base.yaml",
        "https://podfiles.example/team/common.yaml",
    ]
    assert loaded.sources[1:] == (
        "https://podfiles.example/team/base.yaml",
        "https://podfiles.example/team/common.yaml",
    )


def test_github_shorthand_uses_the_configured_base_url(tmp_path: Path, write: WriteFile) -> None:
    fetch = FakeFetcher({
        "http://127.0.0.1:8080/raw/acme/podfiles/main/podfile.yaml": "base: debian:bookworm\n",
        "http://127.0.0.1:8080/raw/acme/podfiles/main/go/dev.yaml": "extends: ../podfile.yaml\n",
    })
    write("podfile.yaml", "extends: github.com/acme/podfiles/go/dev.yaml\n")
    loaded = load_podfile(tmp_path, fetch=fetch, remote_base_url="http://127.0.0.1:8080/raw/")
    assert loaded.podfile.base == "debian:bookworm"
    assert fetch.calls[0] == "http://127.0.0.1:8080/raw/acme/podfiles/main/go/dev.yaml"


def test_github_shorthand_keeps_an_explicit_branch(tmp_path: Path, write: WriteFile) -> None:
    fetch = FakeFetcher({"https://raw.example/acme/pf/master/x.yaml": "base: debian:bookworm\n"})
    write("podfile.yaml", "extends: github.com/acme/pf/master/x.yaml\n")
    load_podfile(tmp_path, fetch=fetch, remote_base_url="https://raw.example")
    assert fetch.calls == ["https://raw.example/acme/pf/master/x.yaml"]


def test_remote_extends_without_a_fetcher_are_refused(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: https://podfiles.example/base.yaml\n")
    assert load_error(tmp_path).message == (
        "https://podfiles.example/base.yaml is a remote base, and remote extends are turned off "
        "here; copy the base into the repository and extend it by path"
    )


def test_fetch_failure_is_a_podfile_error(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: https://user:token@podfiles.example/base.yaml\n")
    error = load_error(tmp_path, fetch=FakeFetcher({}))
    assert error.message.startswith("could not fetch https://podfiles.example/base.yaml (404 for")
    assert "token" not in error.message.split("(")[0]


def test_a_remote_base_cannot_read_local_files(write: WriteFile, tmp_path: Path) -> None:
    fetch = FakeFetcher({"https://evil.example/base.yaml": "extends: /etc/podspawn/x.yaml\n"})
    write("podfile.yaml", "extends: https://evil.example/base.yaml\n")
    load_error(tmp_path, fetch=fetch)
    assert fetch.calls == ["https://evil.example/base.yaml", "https://evil.example/etc/podspawn/x.yaml"]


def test_http_fetcher_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="only http and https"):
        http_fetcher()("file:///etc/passwd")


# --- cycles and depth --------------------------------------------------------------------


def test_cycle_is_an_error(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: a.yaml\n")
    write("a.yaml", "extends: b.yaml\n")
    write("b.yaml", "extends: ./a.yaml\n")
    assert load_error(tmp_path).message == (
        "extends loops back on itself: podfile.yaml -> a.yaml -> b.yaml -> a.yaml"
    )


def test_self_reference_is_a_cycle(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: ./podfile.yaml\n")
    assert load_error(tmp_path).message == (
        "extends loops back on itself: podfile.yaml -> podfile.yaml"
    )


def test_remote_cycle_is_an_error(tmp_path: Path, write: WriteFile) -> None:
    fetch = FakeFetcher({"https://x.example/a.yaml": "extends: https://x.example/a.yaml\n"})
    write("podfile.yaml", "extends: https://x.example/a.yaml\n")
    assert "loops back on itself" in load_error(tmp_path, fetch=fetch).message


def write_chain(write: WriteFile, links: int) -> None:
    """podfile.yaml -> l1.yaml -> ... -> l<links>.yaml, the last one setting base."""
    names = ["podfile.yaml"] + [f"l{n}.yaml" for n in range(1, links + 1)]
    for here, there in itertools.pairwise(names):
        write(here, f"extends: {there}\npackages: [p{here.split('.')[0]}]\n")
    write(names[-1], "base: debian:bookworm\n")


def test_depth_ten_is_allowed(tmp_path: Path, write: WriteFile) -> None:
    write_chain(write, MAX_EXTENDS_DEPTH)
    loaded = load_podfile(tmp_path)
    assert len(loaded.sources) == 11
    assert loaded.podfile.packages[0] == "pl9"
    assert loaded.podfile.packages[-1] == "ppodfile"


def test_depth_eleven_is_an_error(tmp_path: Path, write: WriteFile) -> None:
    write_chain(write, MAX_EXTENDS_DEPTH + 1)
    message = load_error(tmp_path).message
    assert message.startswith("extends chain is deeper than 10 levels: podfile.yaml -> l1.yaml")
    assert message.endswith("-> l11.yaml; flatten some of these bases")


# --- parsing and reporting ---------------------------------------------------------------


def test_unknown_key_names_the_key_and_the_files(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: minimal\npakages: [git]\nservices:\n  - name: db\n")
    error = load_error(tmp_path)
    assert error.message.splitlines()[0] == (
        "podfile.yaml (with bundled base minimal) is not a valid Podfile, 2 problems:"
    )
    assert problem_lines(error) == [
        "services.0.image: Field required",
        "pakages: unknown key; did you mean packages?",
    ]


def test_yaml_syntax_error(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "base: debian\npackages: [git\n")
    assert load_error(tmp_path).message.startswith(
        "podfile.yaml: invalid YAML at line 3, column 1:"
    )


def test_duplicate_yaml_key(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "base: debian:bookworm\npackages: [git]\npackages: [vim]\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: invalid YAML at line 3, column 1: the key 'packages' appears twice"
    )


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "x-common: &c {image: 'redis:7'}\nbase: debian:bookworm\n")
    # The anchor trick itself is fine; the unknown key is what fails.
    assert problem_lines(load_error(tmp_path)) == ["x-common: unknown key"]


def test_top_level_must_be_a_mapping(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "- git\n- vim\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: a Podfile must be a mapping of keys such as base: and packages:"
    )


def test_empty_file_needs_a_base(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "# nothing yet\n")
    assert problem_lines(load_error(tmp_path)) == [
        "base: Field required (set a base image, or inherit one with extends)"
    ]


def test_alias_bomb_is_refused(tmp_path: Path, write: WriteFile) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]
    write("podfile.yaml", "\n".join(lines) + "\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: the document is too large or too deeply aliased"
    )


def test_extends_must_be_a_string(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "extends: [a, b]\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: extends must name a base, such as ubuntu-dev or ./base.yaml"
    )


def test_removal_without_extends_is_an_error(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", "base: debian:bookworm\npackages: [git, '!neovim']\n")
    assert load_error(tmp_path).message == (
        "podfile.yaml: packages.1 removes an inherited item, but this file has no extends; "
        "delete the '!' entry or add extends"
    )


def test_merge_conflict_names_the_file(tmp_path: Path, write: WriteFile) -> None:
    write("base.yaml", "base: debian:bookworm\n")
    write("podfile.yaml", "extends: base.yaml\nenv: {A: '1'}\nenv!: {B: '2'}\n")
    assert load_error(tmp_path).message == "podfile.yaml: env: write either env or env!, not both"


def test_parse_podfile_from_text(tmp_path: Path, write: WriteFile) -> None:
    write("base.yaml", "base: debian:bookworm\n")
    loaded = parse_podfile("extends: base.yaml\npackages: [git]\n", directory=tmp_path)
    assert loaded.podfile.base == "debian:bookworm"
    with pytest.raises(PodfileError, match="a relative extends needs the Podfile's directory"):
        parse_podfile("extends: base.yaml\n")


def test_load_file_with_explicit_root(tmp_path: Path, write: WriteFile) -> None:
    path = write("envs/dev/podfile.yaml", "extends: ../../shared.yaml\n")
    write("shared.yaml", "base: debian:bookworm\n")
    assert load_file(path, root=tmp_path).sources == ("envs/dev/podfile.yaml", "shared.yaml")
    with pytest.raises(PodfileError, match="outside the project directory"):
        load_file(path)


# --- policy and hashing -----------------------------------------------------------------


SERVICE_WITH_BIND = """\
base: debian:bookworm
services:
  - name: db
    image: postgres:16
    volumes: ["pgdata:/var/lib/postgresql/data", "/srv/shared/db:/seed:ro"]
"""


def test_host_bind_is_refused_by_default(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", SERVICE_WITH_BIND)
    error = load_error(tmp_path)
    assert error.message.splitlines()[0] == "podfile.yaml is not a valid Podfile, 1 problem:"
    assert problem_lines(error) == [
        "services.0.volumes.1: host path /srv/shared/db is not allowed on this server; use a "
        "named volume such as seed:/seed"
    ]


def test_host_bind_under_an_allowed_root(tmp_path: Path, write: WriteFile) -> None:
    write("podfile.yaml", SERVICE_WITH_BIND)
    loaded = load_podfile(tmp_path, allowed_bind_roots=["/srv/shared"])
    assert loaded.podfile.services[0].volumes[1] == "/srv/shared/db:/seed:ro"
    with pytest.raises(PodfileError):
        load_podfile(tmp_path, allowed_bind_roots=["/srv/share"])


def test_allowed_root_is_compared_by_component_and_without_host_io(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"  # never created: the load-time check reads no host path

    def podfile(source: str) -> Podfile:
        return validate({"base": "b", "services": [
            {"name": "db", "image": "p", "volumes": [f"{source}:/x"]}]})

    check_policy(podfile(f"{allowed}/./a//b"), allowed_bind_roots=[str(allowed)])
    check_policy(podfile(str(allowed)), allowed_bind_roots=[f"{allowed}/"])
    for outside in (f"{allowed}x/a", str(tmp_path), "/etc"):
        with pytest.raises(PodfileError, match="is not allowed on this server"):
            check_policy(podfile(outside), allowed_bind_roots=[str(allowed)])


@pytest.mark.parametrize(("source", "roots", "expected"), [
    ("/srv/shared/a/x", ["/srv/shared"], ("/srv/shared", ("a", "x"))),
    ("/srv/shared", ["/srv/shared/"], ("/srv/shared/", ())),
    ("//srv/./shared//a", ["/srv/shared"], ("/srv/shared", ("a",))),
    ("/srv/sharedx/a", ["/srv/shared"], None),
    ("/srv/shared/../etc", ["/srv/shared"], None),
    ("/srv/shared/a", ["/srv/shared/../srv/shared"], None),
    ("/srv/other/a", ["/srv/shared", "/srv/other"], ("/srv/other", ("a",))),
    ("/etc", [], None),
])
def test_bind_parts(source: str, roots: list[str], expected: object) -> None:
    assert bind_parts(source, roots) == expected


def test_allowed_roots_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="must be an absolute path"):
        check_policy(validate({"base": "b"}), allowed_bind_roots=["srv"])


def test_same_environment_same_tag_whether_inherited_or_flat(
    tmp_path: Path, write: WriteFile
) -> None:
    write("a/base.yaml", "base: debian:bookworm\npackages: [git]\n")
    write("a/podfile.yaml", "# comments do not matter\nextends: base.yaml\npackages: [jq]\n")
    write("b/podfile.yaml", "packages: [git, jq]\nbase: 'debian:bookworm'\nshell: /bin/bash\n")
    inherited = load_podfile(tmp_path / "a")
    flat = load_podfile(tmp_path / "b")
    assert inherited.content_hash == flat.content_hash
    assert inherited.image_tag("api") == f"podspawn/api:podfile-{flat.content_hash}"
