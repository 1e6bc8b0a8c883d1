"""Terminals through the real sshd: sizes, resizes, Ctrl-C, exit statuses, and tty-less shells.

pexpect gives the real ``ssh`` client a real pseudo-terminal, as a person's terminal would.
"""

from __future__ import annotations

import re
import subprocess
import time

import pexpect
import pytest

TIMEOUT = 60
#: Typed as ``[ps''1]# `` so that the echoed command line never matches the prompt itself.
PROMPT = "[ps1]# "


@pytest.fixture(scope="module", autouse=True)
def _image_ready(server, sarah):
    """Log in once, unhurried: on a fresh machine the first login builds the image layer."""
    result = server.ssh(sarah, "true", timeout=900)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def _spawn(server, user: str, *args: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    argv = server.ssh_argv(user, opts=["-tt"])
    argv += args
    return pexpect.spawn(argv[0], argv[1:], dimensions=(rows, cols), timeout=TIMEOUT,
                         encoding="utf-8", codec_errors="replace")


def _shell(server, user: str, *, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    child = _spawn(server, user, rows=rows, cols=cols)
    child.sendline("PS1='[ps''1]# '; PROMPT_COMMAND=")
    child.expect_exact(PROMPT)
    return child


def _stty_size(child: pexpect.spawn) -> tuple[int, int]:
    child.sendline("echo size=$(stty size | tr ' ' x)")
    child.expect(r"size=(\d+)x(\d+)\r\n")
    rows, cols = int(child.match.group(1)), int(child.match.group(2))
    child.expect_exact(PROMPT)
    return rows, cols


def _finish(child: pexpect.spawn) -> None:
    if child.isalive():
        child.terminate(force=True)


def test_terminal_size_and_resize(server, sarah):
    child = _shell(server, sarah, rows=31, cols=97)
    try:
        assert _stty_size(child) == (31, 97)
        child.setwinsize(45, 132)
        # the resize travels ssh -> sshd -> docker exec asynchronously; allow it a moment
        deadline = time.monotonic() + 10
        size = _stty_size(child)
        while size != (45, 132) and time.monotonic() < deadline:
            time.sleep(0.2)
            size = _stty_size(child)
        assert size == (45, 132)
    finally:
        _finish(child)


def test_ctrl_c_interrupts_the_command_not_the_shell(server, sarah):
    child = _shell(server, sarah)
    try:
        child.sendline("sleep 100; echo finished-$((1+1))")
        child.expect_exact("finished-$((1+1))")  # the echo of the command line
        time.sleep(1)  # let sleep start
        started = time.monotonic()
        child.sendintr()
        child.expect_exact(PROMPT, timeout=20)
        assert time.monotonic() - started < 20
        assert "finished-2" not in (child.before or "")
        child.sendline("echo alive-$((40+2))")
        child.expect_exact("alive-42")
        child.expect_exact(PROMPT)
    finally:
        _finish(child)


def test_exit_status_of_an_interactive_shell(server, sarah):
    child = _shell(server, sarah)
    try:
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 3
    finally:
        _finish(child)


def test_ssh_t_command_gets_a_tty(server, sarah):
    argv = server.ssh_argv(sarah, opts=["-t"])
    child = pexpect.spawn(argv[0], [*argv[1:], "tty; test -t 0 && echo stdin-is-tty"],
                          timeout=TIMEOUT, encoding="utf-8")
    try:
        child.expect(pexpect.EOF)
        child.close()
        output = child.before or ""
        assert child.exitstatus == 0, output
        assert re.search(r"^/dev/pts/\d+\r?$", output, re.M), output
        assert "stdin-is-tty" in output
    finally:
        _finish(child)


def test_ssh_T_shell_without_tty_reads_commands_from_stdin(server, sarah):
    argv = server.ssh_argv(sarah, opts=["-T"])
    result = subprocess.run(argv, input=b"tty; echo hi\n", capture_output=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    lines = result.stdout.decode().splitlines()
    assert "not a tty" in lines
    assert "hi" in lines
