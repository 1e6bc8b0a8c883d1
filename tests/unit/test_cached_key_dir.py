"""``auth-keys``' config read: the key directory from the snapshot, without the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podspawn.config import cached, loader, schema, snapshot


def _with_snapshot(path: Path, text: str) -> None:
    path.write_text(text)
    config = loader.load_config(str(path), write_cache=False)
    snapshot.write(str(path), os.stat(path), config)


def test_key_dir_comes_from_a_fresh_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _with_snapshot(path, "auth:\n  key_dir: /srv/keys\n")
    snap_path = Path(snapshot.login_snapshot_path(str(path)))
    text = snap_path.read_text()
    assert "key_dir /srv/keys\n" in text
    snap_path.write_text(text.replace("key_dir /srv/keys", "key_dir /from/snapshot"))
    assert cached.load_key_dir(str(path)) == "/from/snapshot"


def test_key_dir_rereads_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _with_snapshot(path, "auth:\n  key_dir: /srv/keys\n")
    path.write_text("auth:\n  key_dir: /srv/other-keys\n")
    assert cached.load_key_dir(str(path)) == "/srv/other-keys"


@pytest.mark.parametrize(
    "broken",
    ["not json", "[]", '{"source": SOURCE}', '{"source": SOURCE, "config": []}',
     '{"source": SOURCE, "config": {"auth": {"key_dir": 7}}}',
     '{"source": SOURCE, "config": {"auth": {"key_dir": "relative"}}}'],
)
def test_key_dir_falls_back_on_a_broken_snapshot(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("auth:\n  key_dir: /srv/keys\n")
    source = json.dumps(snapshot.fingerprint(os.stat(path)))
    Path(snapshot.cache_path(str(path))).write_text(broken.replace("SOURCE", source))
    assert cached.load_key_dir(str(path)) == "/srv/keys"


def test_key_dir_of_a_missing_file_is_the_default(tmp_path: Path) -> None:
    assert cached.load_key_dir(str(tmp_path / "absent.yaml")) == schema.AuthConfig().key_dir


def test_key_dir_from_a_snapshot_imports_no_schema(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    _with_snapshot(path, "auth:\n  key_dir: /srv/keys\n")
    code = (
        "import sys\n"
        "from podspawn.config.cached import load_key_dir\n"
        f"print(load_key_dir({str(path)!r}))\n"
        "print(sorted(m for m in ('podspawn.config.schema', 'dataclasses', 'typing', 'yaml',\n"
        "                         'pydantic') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.splitlines() == ["/srv/keys", "[]"]


def _forge(path: Path, key_dir: str) -> Path:
    """A snapshot with a matching fingerprint, as anyone who can write the directory could."""
    path.write_text("auth:\n  key_dir: /srv/keys\n")
    config = loader.load_config(str(path), write_cache=False)
    data = {"source": snapshot.fingerprint(os.stat(path)),
            "config": snapshot.plain(config.to_dict())}
    data["config"]["auth"]["key_dir"] = key_dir
    data["config"]["state"]["db_path"] = key_dir + "/state.db"
    snap = Path(snapshot.cache_path(str(path)))
    snap.write_text(json.dumps(data))
    return snap


def test_a_snapshot_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    snap = _forge(path, "/attacker/keys")
    snap.chmod(0o666)
    assert cached.load_key_dir(str(path)) == "/srv/keys"
    assert cached.load_fast(str(path)).state.db_path == schema.StateConfig().db_path


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file another owner")
def test_a_snapshot_planted_by_another_account_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    snap = _forge(path, "/attacker/keys")
    os.chown(snap, 65534, 65534)
    assert cached.load_key_dir(str(path)) == "/srv/keys"
    assert cached.load_fast(str(path)).auth.key_dir == "/srv/keys"


def test_the_snapshot_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("auth:\n  key_dir: /srv/keys\n")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    config = loader.load_config(str(path), write_cache=False)
    tmp = f"{snapshot.cache_path(str(path))}.{os.getpid()}.tmp"
    os.symlink(victim, tmp)
    snapshot.write(str(path), os.stat(path), config)
    assert victim.read_text() == "precious\n"
