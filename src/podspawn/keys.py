"""Parse and validate OpenSSH public key lines; pure, so it is tested as a table.

What is stored for a user is plain ``type base64 [comment]`` lines: options, private keys,
and anything whose base64 body does not decode to a key of the stated type are refused, so
what ``auth-keys`` prints is always well formed.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass

from podspawn.authorized_keys import key_file_text
from podspawn.errors import InvalidKey

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    type: str
    blob: str
    comment: str = ""

    @property
    def line(self) -> str:
        return f"{self.type} {self.blob} {self.comment}".rstrip()

    @property
    def identity(self) -> tuple[str, str]:
        return (self.type, self.blob)


def parse_key(line: str, *, where: str = "key") -> PublicKey:
    """One public key from one line.

    Raises:
        InvalidKey: the line is a private key, carries options, names an unknown key type,
            or its body is not valid base64 for that type.
    """
    text = line.strip()
    if "PRIVATE KEY" in text or text.startswith("-----BEGIN"):
        raise InvalidKey(f"{where} is a private key; give the .pub file or line instead")
    parts = text.split(None, 2)
    if not parts:
        raise InvalidKey(f"{where} is empty; paste a line such as 'ssh-ed25519 AAAA... you@host'")
    if parts[0] not in KEY_TYPES:
        # options without quotes are one word (restrict,pty; no-agent-forwarding) before a type
        if (
            "=" in parts[0]
            or parts[0] in ("restrict", "no-pty", "no-port-forwarding")
            or (len(parts) > 1 and parts[1] in KEY_TYPES)
        ):
            raise InvalidKey(
                f"{where} starts with authorized_keys options; give only the key itself"
            )
        shown = parts[0][:30]
        if parts[0] == "ssh-dss":
            raise InvalidKey(f"{where} is a DSA key, which OpenSSH no longer accepts; use ed25519")
        raise InvalidKey(
            f"{where} has unknown key type {shown!r}; use an ssh-ed25519, ssh-rsa or ecdsa key"
        )
    if len(parts) < 2:
        raise InvalidKey(f"{where} has a key type but no key data")
    key_type, blob = parts[0], parts[1]
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        embedded = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise InvalidKey(f"{where} has key data that is not valid base64") from None
    if embedded != key_type or len(raw) < 4 + length + 16:
        raise InvalidKey(f"{where} key data does not hold a {key_type} key; copy it again")
    comment = parts[2].strip() if len(parts) > 2 else ""
    comment = "".join(ch for ch in comment if ch.isprintable())
    return PublicKey(type=key_type, blob=blob, comment=comment)


def parse_key_text(text: str, *, source: str) -> list[PublicKey]:
    """Every key in a file's text; blank and ``#`` lines are skipped.

    Raises:
        InvalidKey: naming the source and the line number of the first bad line.
    """
    keys = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keys.append(parse_key(stripped, where=f"{source} line {number}"))
    return keys


def merge_keys(*groups: list[PublicKey]) -> list[PublicKey]:
    """Keys in first-seen order, each (type, body) once."""
    seen: set[tuple[str, str]] = set()
    merged = []
    for group in groups:
        for key in group:
            if key.identity not in seen:
                seen.add(key.identity)
                merged.append(key)
    return merged


def render_key_file(keys: list[PublicKey], *, expires_at: float | None = None) -> str:
    """The key store's file for ``keys`` (format: :mod:`podspawn.authorized_keys`)."""
    return key_file_text([key.line for key in keys], expires_at=expires_at)
