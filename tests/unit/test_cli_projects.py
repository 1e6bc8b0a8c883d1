"""``podspawn init`` and ``podspawn podfile schema`` through the real CLI."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from podspawn.__main__ import main
from podspawn.cli.app import cli
from podspawn.podfile import load_podfile


def test_init_detects_node_and_writes_a_valid_podfile(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    result = CliRunner().invoke(cli, ["init", str(tmp_path)], catch_exceptions=False)
    assert result.exit_code == 0
    assert "from the node template" in result.output
    data = yaml.safe_load((tmp_path / "podfile.yaml").read_text())
    assert any(str(p).startswith("nodejs@") for p in data["packages"])
    assert load_podfile(tmp_path).podfile.base  # it resolves and validates


def test_init_refuses_to_overwrite_without_force(tmp_path, capsys):
    (tmp_path / "podfile.yaml").write_text("base: debian:bookworm\n")
    assert main(["init", str(tmp_path)]) == 1
    assert "pass --force" in capsys.readouterr().err
    assert (tmp_path / "podfile.yaml").read_text() == "base: debian:bookworm\n"
    result = CliRunner().invoke(cli, ["init", "--force", "-t", "generic", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert "generic" in result.output


def test_init_unknown_template(tmp_path, capsys):
    assert main(["init", "-t", "cobol", str(tmp_path)]) == 2
    assert "unknown template 'cobol'" in capsys.readouterr().err


def test_podfile_schema_prints_json_schema():
    result = CliRunner().invoke(cli, ["podfile", "schema"], catch_exceptions=False)
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["title"] == "Podfile"
    assert "services" in schema["properties"]
