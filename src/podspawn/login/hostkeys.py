"""Per-user host keys for the in-container SSH server of ``.pod`` connections.

Each user's pods share one ed25519 key, kept root-only under the state directory. A user
can read their own key inside their container (they have sudo there), so keys are per user:
nobody can impersonate another user's pods. The client fetches the public half over the
outer connection, which is verified against the real server's host key.
"""

from __future__ import annotations

import os

from podspawn.errors import StateError
from podspawn.names import validate_user
from podspawn.paths import host_key_paths


def ensure_host_key(state_dir: str, user: str) -> tuple[str, str]:
    """(private key text, public key line) for ``user``, made on first use.

    Raises:
        StateError: ssh-keygen is missing or failed.
    """
    private, public = host_key_paths(state_dir, validate_user(user))
    if not os.path.exists(private):
        import subprocess  # first .pod login only; a warm spawn must not pay ~5 ms for it

        os.makedirs(os.path.dirname(private), mode=0o700, exist_ok=True)
        tmp = f"{private}.{os.getpid()}"
        result = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"podspawn-pod-{user}",
             "-f", tmp],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StateError("cannot create the host key for your pods; ask an administrator",
                             detail=result.stderr.strip())
        os.replace(tmp + ".pub", public)
        os.replace(tmp, private)
    with open(private, encoding="utf-8") as fh:
        private_text = fh.read()
    with open(public, encoding="utf-8") as fh:
        public_line = " ".join(fh.read().split()[:2])
    return private_text, public_line
