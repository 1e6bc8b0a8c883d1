"""The command run from the environment behaves exactly as ``<shell> -c COMMAND`` did.

Each case runs twice in a real shell, the old way (command in argv) and the new way
(``container_argv`` and ``container_env``), and must give the same bytes and status.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from podspawn.login.router import COMMAND_VAR, classify, container_argv, container_env

SHELLS = ["/bin/sh", "/bin/bash"]  # dash and bash: both essential in Debian
CASES = [
    ("exit 42", b""),
    ("""echo "a  b" 'c d' "it's" $HOME""", b""),
    ("printf '%s\\n' one; echo two >&2; exit 3", b""),
    ("echo one\necho two", b""),
    ("echo a \\\nb", b""),
    ("cat <<EOF\nx $HOME\nEOF", b""),
    ("trap 'echo bye' EXIT; echo hi", b""),
    ("f() { return 7; }; f; echo $?", b""),
    ("echo $0; echo $#", b""),
    ("env | grep -c " + COMMAND_VAR + "; true", b""),
    ("exec echo replaced", b""),
    ("read x; echo got:$x", b"hello\n"),
    ("cat", bytes(range(256)) * 64),
    ("wc -c", os.urandom(100_000)),
]


def _run(argv: list[str], env: dict[str, str], data: bytes) -> tuple[int, bytes, bytes]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env}
    result = subprocess.run(argv, input=data, capture_output=True, env=clean, timeout=30,
                            check=False)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("command", "data"), CASES)
def test_same_result_as_the_command_in_argv(shell: str, command: str, data: bytes) -> None:
    request = classify(command, tty=False)
    before = _run([shell, "-c", command], {}, data)
    after = _run(container_argv(request, shell=shell), container_env(request, shell=shell),
                 data)
    assert after == before


@pytest.mark.parametrize("shell", SHELLS)
def test_a_syntax_error_fails_the_same_way(shell: str) -> None:
    request = classify("echo start; if", tty=False)
    before = _run([shell, "-c", "echo start; if"], {}, b"")
    after = _run(container_argv(request, shell=shell), container_env(request, shell=shell),
                 b"")
    assert (after[0], after[1]) == (before[0], before[1])
    assert after[0] != 0 and after[2]
