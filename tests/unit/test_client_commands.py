"""``podspawn servers``, ``podspawn ssh`` and ``podspawn open``."""

from __future__ import annotations

import json
import os
import socket
import sys

import pytest
from click.testing import CliRunner

from podspawn.__main__ import main
from podspawn.cli.app import cli
from podspawn.client.config import Server
from podspawn.client.probe import probe, probe_all


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    binary = tmp_path / "bin" / "podspawn"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(binary)])
    return path


@pytest.fixture
def execs(monkeypatch):
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: calls.append(list(argv)))
    return calls


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_config(home, text: str) -> None:
    path = home / ".podspawn" / "config.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)


@pytest.fixture
def listening():
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- servers ---------------------------------------------------------------------------------


def test_probe(listening, closed_port):
    assert probe("127.0.0.1", listening) is not None
    assert probe("127.0.0.1", closed_port) is None


def test_probe_all_keeps_order_and_runs_in_parallel(listening, closed_port):
    targets = [("a", Server("127.0.0.1", listening)), ("b", Server("127.0.0.1", closed_port)),
               ("c", Server("127.0.0.1", listening))]
    results = probe_all(targets, timeout=1.0)
    assert [r.label for r in results] == ["a", "b", "c"]
    assert [r.reachable for r in results] == [True, False, True]
    assert results[0].status.startswith("ok (") and results[0].status.endswith("ms)")
    assert results[1].status == "unreachable"


def test_servers_table(home, listening, closed_port):
    write_config(home, f"servers:\n  default: 127.0.0.1:{listening}\n  mappings:\n"
                       f"    dead.pod: {{host: '127.0.0.1:{closed_port}', mode: persistent}}\n")
    result = run("servers")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SERVER", "MODE", "STATUS"]
    default = next(line for line in lines if line.startswith("(default)"))
    assert f"127.0.0.1:{listening}" in default and " ok (" in default
    dead = next(line for line in lines if line.startswith("dead.pod"))
    assert dead.split()[1:] == [f"127.0.0.1:{closed_port}", "persistent", "unreachable"]


def test_servers_json(home, listening, closed_port):
    write_config(home, f"servers:\n  default: 127.0.0.1:{listening}\n  mappings:\n"
                       f"    dead.pod: 127.0.0.1:{closed_port}\n")
    for args in (["servers", "--json"], ["--json", "servers"]):
        rows = json.loads(run(*args).stdout)
        assert [(r["name"], r["port"], r["reachable"]) for r in rows] == [
            ("(default)", listening, True), ("dead.pod", closed_port, False)]
        assert isinstance(rows[0]["ms"], int) and rows[1]["ms"] is None


def test_servers_without_config(home):
    result = run("servers")
    assert result.exit_code == 0
    assert "No servers configured; create it with: podspawn config set servers.default HOST" \
        in result.stdout


def test_default_port_is_22():
    assert Server("h").probe_port == 22


# -- ssh -------------------------------------------------------------------------------------


def test_ssh_bare_name_gets_pod_and_the_options(home, execs):
    result = run("ssh", "sarah@api", "--", "ls", "-la")
    assert result.exit_code == 0
    (argv,) = execs
    assert argv == [
        "ssh",
        "-o", f"ProxyCommand={sys.argv[0]} connect %r %h %p",
        "-o", f"UserKnownHostsFile={home}/.podspawn/known_hosts",
        "-o", "StrictHostKeyChecking=yes",
        "sarah@api.pod", "--", "ls", "-la",
    ]


def test_ssh_passes_options_after_the_target(home, execs):
    assert run("ssh", "sarah@api.pod", "-L", "8080:localhost:80", "-N").exit_code == 0
    assert execs[0][-4:] == ["sarah@api.pod", "-L", "8080:localhost:80", "-N"]


def test_ssh_to_an_ordinary_host_adds_nothing(home, execs):
    assert run("ssh", "me@example.com", "uptime").exit_code == 0
    assert run("ssh", "me@10.0.0.1:22").exit_code == 0
    assert execs == [["ssh", "me@example.com", "uptime"], ["ssh", "me@10.0.0.1:22"]]


@pytest.mark.parametrize("target", ["sarah@../x.pod", "sarah@a b", "sarah@$(x)", "sarah@-o",
                                    "-oProxyCommand=x", "@api", "sarah@"])
def test_ssh_refuses_hostile_targets(home, execs, capsys, target):
    assert main(["ssh", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith("podspawn: ") and err.count("\n") == 1
    assert execs == []


# -- open ------------------------------------------------------------------------------------


@pytest.fixture
def editors(tmp_path, monkeypatch):
    bin_dir = tmp_path / "editors"
    bin_dir.mkdir()
    for name in ("code", "cursor"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


def test_open_in_code(home, editors, execs):
    result = run("open", "sarah@api")
    assert result.exit_code == 0
    assert execs == [[str(editors / "code"), "--remote", "ssh-remote+sarah@api.pod", "/workspace"]]
    assert "opening sarah@api.pod in code at /workspace" in result.stderr
    assert "run: podspawn setup" in result.stderr  # no block in ~/.ssh/config yet


def test_open_in_cursor_with_a_path(home, editors, execs):
    assert run("setup").exit_code == 0
    result = run("open", "--cursor", "sarah@api.pod", "/workspace/src")
    assert result.exit_code == 0
    assert execs == [[str(editors / "cursor"), "--remote", "ssh-remote+sarah@api.pod",
                      "/workspace/src"]]
    assert "podspawn setup" not in result.stderr


@pytest.mark.parametrize(("flag", "product"), [([], "VS Code's 'code'"),
                                               (["--cursor"], "Cursor's 'cursor'")])
def test_open_without_the_editor_says_how_to_install_it(home, tmp_path, monkeypatch, execs,
                                                        capsys, flag, product):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["open", *flag, "sarah@api"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"podspawn: {product} command is not on PATH; install ")
    assert err.count("\n") == 1
    assert execs == []


def test_open_refuses_an_option_as_path(home, editors, execs, capsys):
    assert main(["open", "sarah@api", "--", "--disable-extensions"]) == 2
    assert "must be absolute" in capsys.readouterr().err
    assert execs == []
