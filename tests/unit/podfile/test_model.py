"""One test per validation rule, with the exact message line each produces."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from podspawn.errors import PodfileError
from podspawn.podfile import Podfile, image_env, session_env, validate

from .conftest import problem_lines

BASE: dict[str, Any] = {"base": "debian:bookworm"}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PodfileError) as info:
        validate(data)
    return problem_lines(info.value)


def service(**fields: Any) -> dict[str, Any]:
    return {"name": "db", "image": "postgres:16", **fields}


RULES = [
    pytest.param(
        {},
        "base: Field required (set a base image, or inherit one with extends)",
        id="base-required",
    ),
    pytest.param(
        {**BASE, "base": "ubuntu 24.04"},
        "base: 'ubuntu 24.04' is not valid: write an image reference such as debian:bookworm",
        id="base-image-reference",
    ),
    pytest.param(
        {**BASE, "pakages": ["git"]},
        "pakages: unknown key; did you mean packages?",
        id="unknown-key-with-suggestion",
    ),
    pytest.param({**BASE, "colour": "red"}, "colour: unknown key", id="unknown-key"),
    pytest.param(
        {**BASE, "services": [service(imgae="x")]},
        "services.0.imgae: unknown key; did you mean image?",
        id="unknown-nested-key",
    ),
    pytest.param(
        {**BASE, "services": [{"name": "db"}]},
        "services.0.image: Field required",
        id="service-image-required",
    ),
    pytest.param(
        {**BASE, "services": [{"image": "redis:7"}]},
        "services.0.name: Field required",
        id="service-name-required",
    ),
    pytest.param(
        {**BASE, "services": [service(name="Redis")]},
        "services.0.name: 'Redis' is not valid: use 1-40 lowercase letters, digits, '_' or '-'",
        id="service-name-pattern",
    ),
    pytest.param(
        {**BASE, "services": [service(), service(image="postgres:17")]},
        "services: duplicate service name 'db'",
        id="service-name-unique",
    ),
    pytest.param(
        {**BASE, "services": [service(volumes=["pgdata"])]},
        "services.0.volumes.0: 'pgdata' is not a volume: write name:/path (or name:/path:ro)",
        id="volume-needs-colon",
    ),
    pytest.param(
        {**BASE, "services": [service(volumes=["./data:/data"])]},
        "services.0.volumes.0: './data:/data': the source must be a volume name "
        "(up to 64 letters, digits, '_', '.', '-') or an absolute host path",
        id="volume-relative-source",
    ),
    pytest.param(
        {**BASE, "services": [service(volumes=["data:data"])]},
        "services.0.volumes.0: 'data:data': the container path must be absolute, without '..'",
        id="volume-target-absolute",
    ),
    pytest.param(
        {**BASE, "services": [service(volumes=["data:/data:rx"])]},
        "services.0.volumes.0: 'data:/data:rx': the third part must be ro or rw",
        id="volume-mode",
    ),
    pytest.param(
        {**BASE, "services": [service(ports=[0])]},
        "services.0.ports.0: Input should be greater than or equal to 1",
        id="service-port-range",
    ),
    pytest.param(
        {**BASE, "services": [service(ready_timeout=0)]},
        "services.0.ready_timeout: Input should be greater than 0",
        id="service-ready-timeout",
    ),
    pytest.param(
        {**BASE, "shell": "bash"},
        "shell: 'bash' is not valid: write an absolute path, starting with /",
        id="shell-absolute",
    ),
    pytest.param(
        {**BASE, "workspace": "/workspace/../etc"},
        "workspace: /workspace/../etc must not contain '..'",
        id="workspace-no-dot-dot",
    ),
    pytest.param(
        {**BASE, "workspace": "src"},
        "workspace: 'src' is not valid: write an absolute path, starting with /",
        id="workspace-absolute",
    ),
    pytest.param(
        {**BASE, "resources": {"memory": "4x"}},
        "resources.memory: '4x' is not a memory size; write it like 512m or 2g",
        id="memory-size",
    ),
    pytest.param(
        {**BASE, "resources": {"cpus": 0}},
        "resources.cpus: Input should be greater than 0",
        id="cpus-positive",
    ),
    pytest.param(
        {**BASE, "resources": {"cpus": float("nan")}},
        "resources.cpus: Input should be less than or equal to 1024",
        id="cpus-finite",
    ),
    pytest.param(
        {**BASE, "services": [service(resources={"memory": "lots"})]},
        "services.0.resources.memory: 'lots' is not a memory size; write it like 512m or 2g",
        id="service-memory-size",
    ),
    pytest.param(
        {**BASE, "services": [service(resources={"cpus": -1})]},
        "services.0.resources.cpus: Input should be greater than 0",
        id="service-cpus-positive",
    ),
    pytest.param(
        {**BASE, "services": [service(resources={"cpus": float("inf")})]},
        "services.0.resources.cpus: Input should be less than or equal to 1024",
        id="service-cpus-finite",
    ),
    pytest.param(
        {**BASE, "services": [service(resources={"gpus": 1})]},
        "services.0.resources.gpus: unknown key; did you mean cpus?",
        id="service-resources-closed",
    ),
    pytest.param(
        {**BASE, "repos": [{"path": "/src"}]},
        "repos.0.url: Field required",
        id="repo-url-required",
    ),
    pytest.param(
        {**BASE, "repos": [{"url": "-oProxyCommand=touch /tmp/x"}]},
        "repos.0.url: '-oProxyCommand=touch /tmp/x' is not valid: write a git URL such as "
        "https://example.com/team/repo.git",
        id="repo-url-no-option",
    ),
    pytest.param(
        {**BASE, "repos": [{"url": "https://h/r.git", "path": "src"}]},
        "repos.0.path: 'src' is not valid: write an absolute path, starting with /",
        id="repo-path-absolute",
    ),
    pytest.param(
        {**BASE, "repos": [{"url": "https://h/r.git"}, {"url": "https://h/r.git"}]},
        "repos: duplicate repo url 'https://h/r.git'",
        id="repo-url-unique",
    ),
    pytest.param(
        {**BASE, "branch": "-f"},
        "branch: '-f' is not valid: write a branch or tag name such as main",
        id="branch-pattern",
    ),
    pytest.param(
        {**BASE, "mount": "sync"},
        "mount: Input should be 'bind', 'copy' or 'none' (got 'sync')",
        id="mount-enum",
    ),
    pytest.param(
        {**BASE, "mode": "named"},
        "mode: Input should be 'grace-period', 'destroy-on-disconnect' or 'persistent' "
        "(got 'named')",
        id="mode-enum",
    ),
    pytest.param(
        {**BASE, "ports": {"strategy": "random"}},
        "ports.strategy: Input should be 'auto', 'manual' or 'expose' (got 'random')",
        id="strategy-enum",
    ),
    pytest.param(
        {**BASE, "ports": {"expose": [70000]}},
        "ports.expose.0: Input should be less than or equal to 65535",
        id="expose-port-range",
    ),
    pytest.param(
        {**BASE, "packages": "git"},
        "packages: Input should be a list",
        id="packages-list",
    ),
    pytest.param(
        {**BASE, "packages": ["Git"]},
        "packages.0: 'Git' is not valid: write a lowercase Debian package name, optionally "
        "followed by @version",
        id="package-name",
    ),
    pytest.param(
        {**BASE, "packages": ["git; rm -rf /"]},
        "packages.0: 'git; rm -rf /' is not valid: write a lowercase Debian package name, "
        "optionally followed by @version",
        id="package-no-shell",
    ),
    pytest.param(
        {**BASE, "packages": ["nodejs@lts"]},
        "packages.0: nodejs@lts is not supported: the version must be a major version such as "
        "nodejs@22",
        id="nodejs-version",
    ),
    pytest.param(
        {**BASE, "packages": ["python@2.7"]},
        "packages.0: python@2.7 is not supported: the version must be 3.N, such as python@3.12",
        id="python-version",
    ),
    pytest.param(
        {**BASE, "packages": ["go@latest"]},
        "packages.0: go@latest is not supported: the version must be a release such as go@1.25 "
        "or go@1.25.0",
        id="go-version",
    ),
    pytest.param(
        {**BASE, "packages": ["rust@newest"]},
        "packages.0: rust@newest is not supported: the version must be a toolchain such as "
        "rust@stable, rust@nightly or rust@1.80.1",
        id="rust-version",
    ),
    pytest.param(
        {**BASE, "packages": ["go@1.24", "go@1.25"]},
        "packages: go is listed twice (go@1.24, go@1.25)",
        id="package-unique",
    ),
    pytest.param(
        {**BASE, "env": {"1BAD": "x"}},
        "env.1BAD: invalid key: '1BAD' is not valid: use letters, digits and '_', not starting "
        "with a digit",
        id="env-name",
    ),
    pytest.param(
        {**BASE, "env": {"A": "one\ntwo"}},
        "env.A: must be a single line",
        id="env-single-line",
    ),
    pytest.param(
        {**BASE, "env": {"A": None}},
        "env.A: Input should be a valid string",
        id="env-value-string",
    ),
    pytest.param(
        {**BASE, "env": {"A": "${PODSPAWN_SECRET}"}},
        "env.A: ${PODSPAWN_SECRET} is not a podspawn variable; known are ${PODSPAWN_USER}, "
        "${PODSPAWN_PROJECT}, ${PODSPAWN_HOME}",
        id="env-known-variables",
    ),
    pytest.param(
        {**BASE, "extra_commands": ["echo a\necho b"]},
        "extra_commands.0: must be a single line",
        id="extra-command-single-line",
    ),
    pytest.param(
        {**BASE, "extra_commands": ["echo a \\"]},
        "extra_commands.0: must not end with a backslash (it would join the next step)",
        id="extra-command-no-continuation",
    ),
    pytest.param(
        {**BASE, "extra_commands": [""]},
        "extra_commands.0: String should have at least 1 character",
        id="extra-command-not-empty",
    ),
    pytest.param(
        {**BASE, "on_create": ["make"]},
        "on_create: Input should be a valid string",
        id="hook-is-a-script",
    ),
    pytest.param(
        {**BASE, "dotfiles": {"install": "./install.sh"}},
        "dotfiles.repo: Field required",
        id="dotfiles-repo-required",
    ),
    pytest.param(
        {**BASE, "name": "My App"},
        "name: 'My App' is not valid: use 1-40 lowercase letters, digits or '-', starting and "
        "ending with a letter or digit",
        id="name-pattern",
    ),
    pytest.param(
        {**BASE, "extends": "ubuntu-dev"},
        "extends: must be resolved by podspawn.podfile.load before validation",
        id="extends-resolved-first",
    ),
]


@pytest.mark.parametrize(("data", "expected"), RULES)
def test_validation_rule(data: dict[str, Any], expected: str) -> None:
    assert problems(data) == [expected]


def test_every_problem_is_reported_under_one_header() -> None:
    with pytest.raises(PodfileError) as info:
        validate(
            {"services": [{"name": "db"}], "mount": "x"},
            sources=("podfile.yaml", "base.yaml", "bundled base minimal"),
        )
    message = info.value.message
    assert message.splitlines()[0] == (
        "podfile.yaml (with base.yaml, bundled base minimal) is not a valid Podfile, 3 problems:"
    )
    assert problem_lines(info.value) == [
        "base: Field required (set a base image, or inherit one with extends)",
        "services.0.image: Field required",
        "mount: Input should be 'bind', 'copy' or 'none' (got 'x')",
    ]
    for raw in ("pydantic", "validation error", "type=", "For further information"):
        assert raw not in message


def test_defaults_are_applied_after_validation() -> None:
    podfile = validate(BASE)
    assert podfile.shell == "/bin/bash"
    assert podfile.mount == "bind"
    assert podfile.mode is None
    assert podfile.ports.strategy == "auto"
    assert podfile.resources.cpus is None
    assert podfile.packages == ()
    assert podfile.extends is None


def test_env_scalars_become_text() -> None:
    podfile = validate({**BASE, "env": {"PORT": 3000, "DEBUG": True, "RATIO": 0.5}})
    assert podfile.env == {"PORT": "3000", "DEBUG": "true", "RATIO": "0.5"}


def test_memory_accepts_a_number_of_bytes_and_zero() -> None:
    assert validate({**BASE, "resources": {"memory": 0}}).resources.memory == "0"
    assert validate({**BASE, "resources": {"memory": "512m"}}).resources.memory == "512m"


def test_service_resources_are_requests_with_no_default_of_their_own() -> None:
    podfile = validate({**BASE, "services": [service(), service(
        name="cache", resources={"cpus": 0.5, "memory": 268435456})]})
    assert podfile.services[0].resources.cpus is None
    assert podfile.services[0].resources.memory is None
    assert podfile.services[1].resources.cpus == 0.5
    assert podfile.services[1].resources.memory == "268435456"


def test_allowed_volume_forms() -> None:
    podfile = validate(
        {**BASE, "services": [service(volumes=["pgdata:/var/lib/pg", "cfg:/etc/x:ro", "/srv:/s"])]}
    )
    assert podfile.services[0].volumes == ("pgdata:/var/lib/pg", "cfg:/etc/x:ro", "/srv:/s")


def test_models_are_frozen() -> None:
    podfile = validate(BASE)
    with pytest.raises(ValidationError):
        podfile.base = "alpine"  # type: ignore[misc]


def test_model_validate_rejects_unknown_keys_directly() -> None:
    with pytest.raises(ValidationError):
        Podfile.model_validate({**BASE, "pakages": []})


def test_image_env_and_session_env_split_deferred_values() -> None:
    podfile = validate(
        {
            **BASE,
            "env": {
                "EDITOR": "vim",
                "OWNER": "${PODSPAWN_USER}@${PODSPAWN_PROJECT}",
                "CACHE": "${PODSPAWN_HOME}/.cache",
            },
        }
    )
    assert image_env(podfile) == {"EDITOR": "vim"}
    assert session_env(podfile, user="alice", project="api", home="/home/alice") == {
        "OWNER": "alice@api",
        "CACHE": "/home/alice/.cache",
    }
