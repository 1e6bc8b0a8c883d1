"""keys.py: real keys from ssh-keygen are accepted, everything else is refused with a reason."""

from __future__ import annotations

import base64
import struct

import pytest

from podspawn.errors import InvalidKey, UsageError
from podspawn.keys import PublicKey, merge_keys, parse_key, parse_key_text, render_key_file
from tests.unit.conftest import KEY_SPECS, KeyPair


def _blob(key_type: str, payload: bytes = b"\x00" * 32) -> str:
    """A base64 body that embeds ``key_type`` the way OpenSSH does."""
    name = key_type.encode()
    return base64.b64encode(struct.pack(">I", len(name)) + name + payload).decode()


@pytest.mark.parametrize("name", list(KEY_SPECS))
def test_real_keys_are_accepted(ssh_keys: dict[str, KeyPair], name: str) -> None:
    pair = ssh_keys[name]
    key = parse_key(pair.public_line)
    key_type, blob, comment = pair.public_line.split(" ", 2)
    assert key == PublicKey(type=pair.type, blob=blob, comment=comment)
    assert key_type == pair.type
    assert key.line == pair.public_line
    assert key.identity == (pair.type, blob)


@pytest.mark.parametrize("name", list(KEY_SPECS))
def test_real_keys_without_comment_or_with_surrounding_space(
    ssh_keys: dict[str, KeyPair], name: str
) -> None:
    key_type, blob, _ = ssh_keys[name].public_line.split(" ", 2)
    bare = parse_key(f"  {key_type}   {blob}  \n")
    assert bare == PublicKey(type=key_type, blob=blob, comment="")
    assert bare.line == f"{key_type} {blob}"


@pytest.mark.parametrize("name", list(KEY_SPECS))
def test_private_keys_are_refused(ssh_keys: dict[str, KeyPair], name: str) -> None:
    private = ssh_keys[name].private_text
    with pytest.raises(InvalidKey, match="private key"):
        parse_key(private)
    with pytest.raises(InvalidKey, match="private key"):
        parse_key(private.splitlines()[0])
    with pytest.raises(InvalidKey, match=r"keys line 1 is a private key"):
        parse_key_text(private, source="keys")


@pytest.mark.parametrize(
    "prefix",
    [
        'command="/bin/sh"',
        "restrict",
        "no-pty",
        "no-port-forwarding",
        'from="10.0.0.0/8"',
        'environment="A=b"',
        "restrict,pty",
        'restrict,command="id"',
        "no-agent-forwarding",
        "no-X11-forwarding",
        "cert-authority",
        'permitopen="localhost:22"',
    ],
)
def test_option_prefixes_are_refused(ssh_keys: dict[str, KeyPair], prefix: str) -> None:
    line = f"{prefix} {ssh_keys['ed25519'].public_line}"
    with pytest.raises(InvalidKey, match="authorized_keys options") as info:
        parse_key(line, where="--key")
    assert info.value.message.startswith("--key starts with authorized_keys options")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("ssh-foo AAAA", "unknown key type 'ssh-foo'"),
        ("AAAAC3NzaC1lZDI1NTE5AAAA", "unknown key type"),
        ("hello world", "unknown key type 'hello'"),
        ("x" * 200 + " AAAA", "unknown key type '" + "x" * 30 + "'"),
        (f"ssh-dss {_blob('ssh-dss')}", "DSA key"),
        ("ssh-ed25519", "no key data"),
        ("ssh-ed25519 not*base64!", "not valid base64"),
        ("ssh-ed25519 AAAA", "not valid base64"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "does not hold a ssh-ed25519 key"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "not valid base64"),
        ("ssh-ed25519 AAAAB3NzaC1yc2E=====", "not valid base64"),
        ("ssh-ed25519 \u00e9\u00e9\u00e9\u00e9", "not valid base64"),
        (f"ssh-ed25519 {_blob('ssh-ed25519', b'')}", "does not hold a ssh-ed25519 key"),
        (f"ssh-ed25519 {_blob('ssh-ed25519', b'short')}", "does not hold a ssh-ed25519 key"),
        (f"ssh-ed25519 {base64.b64encode(bytes(range(48))).decode()}", "key data"),
    ],
)
def test_bad_lines_are_refused(line: str, reason: str) -> None:
    with pytest.raises(InvalidKey) as info:
        parse_key(line, where="--key")
    assert reason in info.value.message
    assert info.value.message.startswith("--key ")
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("stated", "body_of"),
    [
        ("ssh-ed25519", "rsa"),
        ("ssh-rsa", "ed25519"),
        ("ecdsa-sha2-nistp256", "ecdsa384"),
        ("ecdsa-sha2-nistp521", "ecdsa256"),
        ("ssh-ed25519", "ecdsa256"),
    ],
)
def test_a_body_of_another_type_is_refused(
    ssh_keys: dict[str, KeyPair], stated: str, body_of: str
) -> None:
    blob = ssh_keys[body_of].public_line.split()[1]
    with pytest.raises(InvalidKey, match=f"does not hold a {stated} key"):
        parse_key(f"{stated} {blob} mixed")


def test_comment_cannot_smuggle_a_second_line(ssh_keys: dict[str, KeyPair]) -> None:
    key_type, blob, _ = ssh_keys["ed25519"].public_line.split(" ", 2)
    evil = f"{key_type} {blob} me\nrestrict,command=\"sh\" {key_type} {blob}\r\x1b[31m"
    key = parse_key(evil)
    assert "\n" not in key.line
    assert "\r" not in key.line
    assert "\x1b" not in key.line
    assert render_key_file([key]).count("\n") == 1


def test_parse_key_text_skips_blank_and_comment_lines(ssh_keys: dict[str, KeyPair]) -> None:
    text = "\n".join(
        [
            "# my keys",
            "",
            ssh_keys["ed25519"].public_line,
            "   ",
            "   # indented comment",
            ssh_keys["rsa"].public_line,
            "",
        ]
    )
    keys = parse_key_text(text, source="alice.pub")
    assert [k.type for k in keys] == ["ssh-ed25519", "ssh-rsa"]
    assert parse_key_text("", source="empty") == []
    assert parse_key_text("# only a comment\n\n", source="empty") == []


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["junk"], "keys.txt line 1 has unknown key type 'junk'"),
        (["# c", "", "ssh-ed25519"], "keys.txt line 3 has a key type but no key data"),
        (["GOOD", "", "# c", "restrict GOOD"], "keys.txt line 4 starts with authorized_keys"),
        (["GOOD", "GOOD", "ssh-rsa AAAA"], "keys.txt line 3 has key data that is not valid"),
        (["-----BEGIN OPENSSH PRIVATE KEY-----", "abc"], "keys.txt line 1 is a private key"),
    ],
)
def test_parse_key_text_names_the_line(
    ssh_keys: dict[str, KeyPair], lines: list[str], message: str
) -> None:
    good = ssh_keys["ed25519"].public_line
    text = "\n".join(line.replace("GOOD", good) for line in lines) + "\n"
    with pytest.raises(InvalidKey) as info:
        parse_key_text(text, source="keys.txt")
    assert info.value.message.startswith(message)


def test_merge_keys_keeps_first_seen_order_and_drops_duplicates(
    ssh_keys: dict[str, KeyPair],
) -> None:
    ed, rsa, ec = (parse_key(ssh_keys[n].public_line) for n in ("ed25519", "rsa", "ecdsa256"))
    ed_renamed = PublicKey(type=ed.type, blob=ed.blob, comment="same key, other comment")
    merged = merge_keys([rsa, ed], [ed_renamed, ec, rsa], [], [ec])
    assert merged == [rsa, ed, ec]
    assert merged[1].comment == ed.comment  # the first copy wins
    assert merge_keys() == []
    assert merge_keys([ed, ed]) == [ed]


def test_render_key_file(ssh_keys: dict[str, KeyPair]) -> None:
    keys = [parse_key(ssh_keys[n].public_line) for n in ("ed25519", "rsa")]
    bare = PublicKey(type=keys[0].type, blob=keys[0].blob)
    text = render_key_file([*keys, bare])
    assert text == (
        f"{ssh_keys['ed25519'].public_line}\n"
        f"{ssh_keys['rsa'].public_line}\n"
        f"{bare.type} {bare.blob}\n"
    )
    assert render_key_file([]) == ""
    # what is written parses back to the same keys
    assert parse_key_text(text, source="file") == [*keys, bare]
