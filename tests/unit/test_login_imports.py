"""The login path stays light: auth-keys and a warm spawn import no heavy package.

Each check runs in a fresh interpreter, because this test process has imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from podspawn.config import loader, snapshot

#: Packages the login path must never load (click, rich, pydantic, yaml, docker and what they
#: drag in), plus the stdlib modules podspawn avoids there on purpose.
HEAVY = ("click", "rich", "pydantic", "yaml", "docker", "requests", "urllib3", "http.client",
         "logging")


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _run(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False, timeout=60
    )


def _modules_after(code: str, tmp_path: Path) -> list[str]:
    """Every module a fresh interpreter has loaded after running ``code``."""
    result = _run(["-c", code + "import sys\nprint('\\n'.join(sorted(sys.modules)))\n"],
                  {"PODSPAWN_CONFIG": str(tmp_path / "absent.yaml")})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_heavy_list_detects_what_it_should() -> None:
    """Guard the guard: the check below would notice click or http.client."""
    assert _heavy(["click", "click.core", "http.client", "yaml", "os", "httpx", "clickx"]) == [
        "click", "click.core", "http.client", "yaml",
    ]


def test_importing_the_login_modules_loads_nothing_heavy(tmp_path: Path) -> None:
    modules = _modules_after(
        "import podspawn.login.spawn, podspawn.login.auth_keys, podspawn.__main__\n", tmp_path)
    assert "podspawn.login.spawn" in modules
    assert "podspawn.login.auth_keys" in modules
    assert _heavy(modules) == []


def test_a_first_login_loads_neither_the_engine_sdk_nor_pydantic(tmp_path: Path) -> None:
    """A cold start or a claim from a warm pool runs this code too; the docker SDK (with
    requests and urllib3) and pydantic cost it about 0.2 s, and it needs neither: the engine
    is spoken to by ``runtime.engine_http`` and the stored Podfile read by
    ``podfile.stored``."""
    modules = _modules_after(
        "import podspawn.services.sessions, podspawn.services.pool_slots\n"
        "import podspawn.services.personalise, podspawn.services.project_store\n"
        "import podspawn.services.capacity, podspawn.services.firewall\n"
        "import podspawn.runtime.docker, podspawn.runtime.podman, podspawn.runtime.facts\n"
        "import podspawn.runtime.docker_facts, podspawn.runtime.podman_facts\n"
        "import podspawn.podfile.stored, podspawn.podfile.loaded, podspawn.podfile.env_values\n"
        "from podspawn.runtime.docker import DockerEngine\n"
        "from podspawn.runtime.podman import PodmanEngine\n"
        "DockerEngine(), PodmanEngine()\n", tmp_path)
    assert "podspawn.services.sessions" in modules and "podspawn.runtime.podman" in modules
    heavy = [m for m in _heavy(modules) if m.split(".")[0] in
             ("pydantic", "docker", "requests", "urllib3", "click", "rich")]
    assert heavy == []


def test_auth_keys_with_a_hostile_name_prints_nothing(tmp_path: Path) -> None:
    result = _run(["-m", "podspawn", "auth-keys", "../etc"],
                  {"PODSPAWN_CONFIG": str(tmp_path / "absent.yaml")})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def _imported(stderr: str) -> list[str]:
    """Module names from ``python -X importtime`` output."""
    names = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def test_importtime_of_auth_keys_without_a_config(tmp_path: Path) -> None:
    result = _run(["-X", "importtime", "-m", "podspawn", "auth-keys", "nobody"],
                  {"PODSPAWN_CONFIG": str(tmp_path / "absent.yaml")})
    assert result.returncode == 0
    assert result.stdout == ""
    modules = _imported(result.stderr)
    assert "podspawn.login.auth_keys" in modules
    assert _heavy(modules) == []


@pytest.fixture
def warm_config(tmp_path: Path) -> Path:
    """A config file with a fresh snapshot, as server-setup leaves it (written as root)."""
    path = tmp_path / "config.yaml"
    path.write_text(f"auth:\n  key_dir: {tmp_path / 'keys'}\n")
    config = loader.load_config(str(path), write_cache=False)
    snapshot.write(str(path), os.stat(path), config)
    return path


def test_importtime_of_auth_keys_with_a_cached_config(
    warm_config: Path, ssh_keys: dict[str, object]
) -> None:
    keys = warm_config.parent / "keys"
    keys.mkdir()
    line = ssh_keys["ed25519"].public_line  # type: ignore[attr-defined]
    (keys / "alice").write_text(line + "\n")
    result = _run(["-X", "importtime", "-m", "podspawn", "--config", str(warm_config),
                   "auth-keys", "alice", "ssh-ed25519", "AAAA"], {})
    assert result.returncode == 0
    assert result.stdout.endswith(f",restrict,pty {line}\n")
    assert result.stdout.count("\n") == 1
    modules = _imported(result.stderr)
    assert "podspawn.config.cached" in modules
    assert _heavy(modules) == []
