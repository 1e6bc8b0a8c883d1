"""~/.podspawn/config.yaml: the Go format, its errors, resolution, ``config`` and ``config set``."""

from __future__ import annotations

import json
import stat

import pytest
import yaml
from click.testing import CliRunner

from podspawn.__main__ import main
from podspawn.cli.app import cli
from podspawn.client.config import (
    ClientConfig,
    Server,
    load_client_config,
    parse_address,
    parse_client_config,
    set_value,
    split_key,
    validate_client_config,
)
from podspawn.errors import ConfigError

GO_STYLE = """\
servers:
  default: devbox.company.com           # fallback for any *.pod
  mappings:
    backend.pod: server1.com            # scalar form = host
    gpu.pod: "gpu.company.com:2222"
    work.pod: {host: server2.com, mode: persistent}
    v6.pod: {host: "[fd00::1]:2200"}
local:
  image: ubuntu:24.04
  cpus: 2
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- parsing ---------------------------------------------------------------------------------


def test_every_mapping_form():
    config = parse_client_config(GO_STYLE, source="c.yaml")
    assert config.default == Server("devbox.company.com")
    assert config.mappings == {
        "backend.pod": Server("server1.com"),
        "gpu.pod": Server("gpu.company.com", 2222),
        "work.pod": Server("server2.com", None, "persistent"),
        "v6.pod": Server("fd00::1", 2200),
    }
    assert config.mappings["v6.pod"].address == "[fd00::1]:2200"


def test_fast_reader_and_models_agree():
    data = yaml.safe_load(GO_STYLE)
    assert validate_client_config(data, source="c.yaml") == parse_client_config(GO_STYLE,
                                                                               source="c.yaml")


@pytest.mark.parametrize("text", ["", "servers:\n", "servers: {mappings: null}\n", "local: {}\n"])
def test_empty_forms(text):
    config = parse_client_config(text, source="c")
    assert config.default is None
    assert config.mappings == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("servers: {defualt: x}", "servers.defualt: unknown key; the keys here are servers.default "
                              "and servers.mappings"),
    ("server: {default: x}", "server: unknown key"),
    ("servers: {default: 5}", "servers.default: Input should be a valid string (got 5)"),
    ("servers: {default: 'a b'}", "servers.default: 'a b' is not a host name"),
    ("servers: {default: '-oProxyCommand=x'}", "servers.default: '-oProxyCommand=x' is not a "
                                                "host name"),
    ("servers: {default: 'h:0'}", "servers.default: 'h:0' has a bad port"),
    ("servers: {default: 'h:99999'}", "has a bad port; use a number from 1 to 65535"),
    ("servers: {default: other.pod}", "servers.default: 'other.pod' is a .pod name"),
    ("servers: {mappings: {api: h}}", "servers.mappings.api: 'api' is not a pod name"),
    ("servers: {mappings: {'../x.pod': h}}", "'../x.pod' is not a pod name"),
    ("servers: {mappings: {api.pod: {host: h, mdoe: x}}}",
     "servers.mappings.api.pod.mdoe: unknown key; the keys here are host and mode"),
    ("servers: {mappings: {api.pod: {mode: persistent}}}", "servers.mappings.api.pod.host: "
                                                           "missing"),
    ("servers: {mappings: {api.pod: [h]}}", "servers.mappings.api.pod: must be a host"),
    ("servers: {mappings: {api.pod: {host: h, mode: 'two words'}}}",
     "servers.mappings.api.pod.mode: 'two words' is not a mode"),
    ("servers: [a]", "servers: must be a mapping"),
    ("- a", "must be a YAML mapping"),
    ("servers: {", "config.yaml is not valid YAML at line 2; fix the syntax"),
])
def test_errors_name_the_key(text, expected):
    with pytest.raises(ConfigError) as caught:
        parse_client_config(text, source="/x/config.yaml")
    message = caught.value.message
    assert expected in message
    assert "\n" not in message
    assert "pydantic" not in message and "instance of" not in message


def test_two_problems_two_sentences():
    with pytest.raises(ConfigError) as caught:
        parse_client_config("servers: {default: 'a b', mappings: {x: h}}", source="c")
    assert caught.value.message.count("; servers.") == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("h", ("h", None)), ("h.example.com:22", ("h.example.com", 22)),
    ("10.0.0.1", ("10.0.0.1", None)),
    ("[::1]:2222", ("::1", 2222)), ("::1", ("::1", None)), (" h ", ("h", None)),
])
def test_addresses(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "a b", "user@h", "h:", "h:x", "[::1", "-h", "$(x)", "h;x",
                                  "api.pod", "API.POD:22"])
def test_bad_addresses(text):
    with pytest.raises(ValueError):
        parse_address(text)


# -- resolution ------------------------------------------------------------------------------


def test_exact_mapping_then_default():
    config = parse_client_config(GO_STYLE, source="c")
    assert config.resolve("gpu.pod") == Server("gpu.company.com", 2222)
    assert config.resolve("GPU.pod") == Server("gpu.company.com", 2222)
    assert config.resolve("other.pod") == Server("devbox.company.com")


def test_mapping_without_default():
    config = parse_client_config("servers: {mappings: {api.pod: h}}", source="c")
    assert config.resolve("api.pod").host == "h"
    with pytest.raises(ConfigError) as caught:
        config.resolve("web.pod")
    assert caught.value.message == ('no server configured for "web.pod"; set one with: '
                                    "podspawn config set servers.default HOST")


def test_no_config_file_gives_the_no_server_error(home):
    config = load_client_config()
    assert not config.found
    with pytest.raises(ConfigError) as caught:
        config.resolve("api.pod")
    assert caught.value.message == ('no server configured for "api.pod"; set one with: '
                                    "podspawn config set servers.default HOST")


def test_empty_config_resolves_nothing():
    with pytest.raises(ConfigError):
        ClientConfig().resolve("x.pod")


# -- config set ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "expected"), [
    ("servers.default", ("default", "", "")),
    ("servers.mappings.api.pod", ("mappings", "api.pod", "host")),
    ("servers.mappings.API.pod", ("mappings", "api.pod", "host")),
    ("servers.mappings.api", ("mappings", "api.pod", "host")),
    ("servers.mappings.api.pod.host", ("mappings", "api.pod", "host")),
    ("servers.mappings.api.pod.mode", ("mappings", "api.pod", "mode")),
    ("servers.mappings.host.pod", ("mappings", "host.pod", "host")),
    ("servers.mappings.mode", ("mappings", "mode.pod", "host")),
])
def test_keys(key, expected):
    assert split_key(key) == expected


@pytest.mark.parametrize("key", ["servers", "servers.mappings", "servers.mappings.", "local.image",
                                 "servers.mappings.../x", "servers.mappings.a.b"])
def test_bad_keys(key):
    with pytest.raises(ConfigError):
        split_key(key)


def test_config_set_round_trip(home):
    result = run("config", "set", "servers.default", "devbox.example.com")
    assert result.exit_code == 0
    assert result.stdout == "set servers.default = devbox.example.com\n"
    assert run("config", "set", "servers.mappings.gpu.pod", "gpu:2222").stdout == \
        "set servers.mappings.gpu.pod = gpu:2222\n"
    assert run("config", "set", "servers.mappings.api", "s2").stdout == \
        "set servers.mappings.api.pod = s2\n"
    assert run("config", "set", "servers.mappings.api.pod.mode", "persistent").exit_code == 0
    assert run("config", "set", "servers.mappings.api.pod", "s3").exit_code == 0
    path = home / ".podspawn" / "config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    config = load_client_config()
    assert config.default == Server("devbox.example.com")
    assert config.mappings == {"gpu.pod": Server("gpu", 2222),
                               "api.pod": Server("s3", None, "persistent")}
    assert yaml.safe_load(path.read_text()) == {"servers": {
        "default": "devbox.example.com",
        "mappings": {"gpu.pod": "gpu:2222", "api.pod": {"host": "s3", "mode": "persistent"}}}}
    shown = run("config")
    assert shown.stdout == (
        "servers.default = devbox.example.com\n"
        "servers.mappings.api.pod.host = s3\n"
        "servers.mappings.api.pod.mode = persistent\n"
        "servers.mappings.gpu.pod = gpu:2222\n"
    )
    data = json.loads(run("config", "--json").stdout)
    assert data["mappings"]["gpu.pod"] == {"host": "gpu", "port": 2222, "mode": "",
                                           "address": "gpu:2222"}


def test_config_set_keeps_other_sections_and_order(home):
    path = home / ".podspawn" / "config.yaml"
    path.parent.mkdir()
    path.write_text(GO_STYLE)
    path.chmod(0o644)
    set_value("servers.mappings.BACKEND.pod", "server9.com")
    data = yaml.safe_load(path.read_text())
    assert data["local"] == {"image": "ubuntu:24.04", "cpus": 2}
    assert list(data["servers"]["mappings"]) == ["backend.pod", "gpu.pod", "work.pod", "v6.pod"]
    assert data["servers"]["mappings"]["backend.pod"] == "server9.com"
    assert data["servers"]["mappings"]["work.pod"] == {"host": "server2.com", "mode": "persistent"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_config_set_validates_before_writing(home, capsys):
    assert main(["config", "set", "servers.default", "good.example.com"]) == 0
    path = home / ".podspawn" / "config.yaml"
    before = path.read_bytes()
    for args in (["servers.default", "bad host"], ["servers.default", "x.pod"],
                 ["servers.mappings.../etc", "h"], ["servers.nope", "h"],
                 ["servers.mappings.new.pod.mode", "persistent"]):
        capsys.readouterr()
        assert main(["config", "set", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("podspawn: ") and err.count("\n") == 1, err
        assert path.read_bytes() == before
    err = main_err(capsys, "servers.mappings.new.pod.mode")
    assert "servers.mappings.new.pod has no host yet" in err


def main_err(capsys, key: str) -> str:
    capsys.readouterr()
    main(["config", "set", key, "persistent"])
    return capsys.readouterr().err


def test_config_set_refuses_to_rewrite_a_broken_file(home, capsys):
    path = home / ".podspawn" / "config.yaml"
    path.parent.mkdir()
    path.write_text("servers: {default: h, typo: 1}\n")
    assert main(["config", "set", "servers.default", "x"]) == 2
    assert "servers.typo: unknown key" in capsys.readouterr().err
    assert path.read_text() == "servers: {default: h, typo: 1}\n"


def test_config_without_file_says_how_to_create_it(home):
    result = run("config")
    assert result.exit_code == 0
    assert result.stdout == ("no client config yet (~/.podspawn/config.yaml); create it with: "
                             "podspawn config set servers.default HOST\n")
