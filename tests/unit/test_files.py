"""files.py: podspawn's marker-delimited block in a shared file, and atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from podspawn.files import BEGIN, END, atomic_write, find_block, first_match_offset, with_block

BLOCK = f"{BEGIN}\nAuthorizedKeysCommand /x auth-keys %u\n{END}\n"
NEW_BLOCK = f"{BEGIN}\nAuthorizedKeysCommand /y auth-keys %u %t %k\nMatch Group podspawn\n{END}\n"

GLOBAL = "Port 22\nPermitRootLogin no\n"
MATCHES = "Match User alice\n    X11Forwarding yes\nMatch all\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("Port 22\n", None),
        (BLOCK, (0, len(BLOCK))),
        (GLOBAL + BLOCK, (len(GLOBAL), len(GLOBAL) + len(BLOCK))),
        (GLOBAL + BLOCK + MATCHES, (len(GLOBAL), len(GLOBAL) + len(BLOCK))),
        (GLOBAL + BLOCK.rstrip("\n"), (len(GLOBAL), len(GLOBAL) + len(BLOCK) - 1)),
        (f"{BEGIN}\nno end\n", None),
        (f"{END}\n", None),
        # the block is the BEGIN nearest to the first END after a BEGIN
        (f"{BEGIN}\nPort 2222\n" + BLOCK, (len(BEGIN) + 11, len(BEGIN) + 11 + len(BLOCK))),
        (f"{END}\n" + BLOCK, (len(END) + 1, len(END) + 1 + len(BLOCK))),
    ],
)
def test_find_block(text: str, expected: tuple[int, int] | None) -> None:
    assert find_block(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        (GLOBAL, None),
        ("Match User a\n", 0),
        (GLOBAL + MATCHES, len(GLOBAL)),
        (GLOBAL + "  match\tgroup x\n", len(GLOBAL)),
        (GLOBAL + "MATCH all\n", len(GLOBAL)),
        (GLOBAL + "# Match User a\n", None),
        (GLOBAL + "Matches 3\n", None),
        (GLOBAL + "Subsystem sftp x # Match y\n", None),
        # podspawn's own Match inside its block does not count
        (GLOBAL + NEW_BLOCK, None),
        (GLOBAL + NEW_BLOCK + MATCHES, len(GLOBAL) + len(NEW_BLOCK)),
    ],
)
def test_first_match_offset(text: str, expected: int | None) -> None:
    assert first_match_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "before_match", "expected"),
    [
        # appended: a blank line separates it from what was there
        ("", False, BLOCK),
        ("", True, BLOCK),
        (GLOBAL, False, GLOBAL + "\n" + BLOCK),
        ("Port 22", False, "Port 22\n\n" + BLOCK),
        (GLOBAL + "\n", False, GLOBAL + "\n" + BLOCK),
        (GLOBAL, True, GLOBAL + "\n" + BLOCK),
        # before the first Match, so the block's global lines stay global
        (GLOBAL + MATCHES, True, GLOBAL + "\n" + BLOCK + "\n" + MATCHES),
        (GLOBAL + "\n" + MATCHES, True, GLOBAL + "\n" + BLOCK + "\n" + MATCHES),
        (MATCHES, True, BLOCK + "\n" + MATCHES),
        (GLOBAL + MATCHES, False, GLOBAL + MATCHES + "\n" + BLOCK),
        # an existing block is replaced where it is
        (GLOBAL + BLOCK + MATCHES, True, GLOBAL + NEW_BLOCK + MATCHES),
        (GLOBAL + MATCHES + BLOCK, True, GLOBAL + MATCHES + NEW_BLOCK),
        (BLOCK, False, NEW_BLOCK),
        (GLOBAL + BLOCK.rstrip("\n"), False, GLOBAL + NEW_BLOCK),
    ],
)
def test_with_block(text: str, before_match: bool, expected: str) -> None:
    block = NEW_BLOCK if BEGIN in text else BLOCK
    assert with_block(text, block, before_match=before_match) == expected


def test_block_without_newline_gets_one() -> None:
    assert with_block(GLOBAL, BLOCK.rstrip("\n")) == GLOBAL + "\n" + BLOCK


def test_replacement_keeps_everything_outside_the_block() -> None:
    text = GLOBAL + BLOCK + MATCHES
    updated = with_block(text, NEW_BLOCK, before_match=True)
    found = find_block(updated)
    assert found is not None
    assert updated[: found[0]] == GLOBAL
    assert updated[found[1] :] == MATCHES
    assert updated[found[0] : found[1]] == NEW_BLOCK


SAMPLES = [
    "",
    "Port 22",
    GLOBAL,
    GLOBAL + "\n\n",
    MATCHES,
    GLOBAL + MATCHES,
    "Include /etc/ssh/sshd_config.d/*.conf\n" + GLOBAL + "\n" + MATCHES,
    GLOBAL + BLOCK + MATCHES,
    GLOBAL + MATCHES + BLOCK,
    # a BEGIN whose END an admin deleted, above or below
    f"{BEGIN}\nPort 2222\n" + GLOBAL,
    GLOBAL + f"{BEGIN}\nPort 2222\n",
    # a stray END
    f"{END}\n" + GLOBAL + MATCHES,
]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("before_match", [True, False])
@pytest.mark.parametrize("block", [BLOCK, NEW_BLOCK])
def test_applying_twice_gives_identical_text(text: str, before_match: bool, block: str) -> None:
    once = with_block(text, block, before_match=before_match)
    twice = with_block(once, block, before_match=before_match)
    assert twice == once
    assert once.count(block) == 1


@pytest.mark.parametrize("text", SAMPLES)
def test_changing_the_block_twice_loses_no_admin_line(text: str) -> None:
    """Whatever was outside podspawn's block is still there after two different updates."""
    once = with_block(text, BLOCK, before_match=True)
    twice = with_block(once, NEW_BLOCK, before_match=True)
    ours = set((BLOCK + NEW_BLOCK).splitlines())
    kept = [line for line in text.splitlines() if line.strip() and line not in ours]
    remaining = twice.splitlines()
    for line in kept:
        assert line in remaining


def test_atomic_write_creates_with_default_mode(tmp_path: Path) -> None:
    path = tmp_path / "new.conf"
    atomic_write(str(path), b"hello\n")
    assert path.read_bytes() == b"hello\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["new.conf"]


def test_atomic_write_creates_with_given_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    atomic_write(str(path), b"x", mode=0o600)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o755, 0o400])
def test_atomic_write_keeps_mode_and_replaces_content(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "sshd_config"
    path.write_bytes(b"old contents that are longer\n")
    os.chmod(path, mode)
    before = os.stat(path)
    atomic_write(str(path), b"new\n")
    after = os.stat(path)
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(after.st_mode) == mode
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced, never rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["sshd_config"]


def test_atomic_write_explicit_mode_wins(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a")
    os.chmod(path, 0o644)
    atomic_write(str(path), b"b", mode=0o440)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o440


def test_atomic_write_leaves_old_file_and_no_temp_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"original")
    with pytest.raises(TypeError):
        atomic_write(str(path), "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"original"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_atomic_write_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(str(tmp_path / "missing" / "f"), b"x")
    assert list(tmp_path.iterdir()) == []
