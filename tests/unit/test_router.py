"""login/router.py: what the client asked for, and the argv that runs it in the container."""

from __future__ import annotations

import pytest

from podspawn.login.router import (
    COMMAND_VAR,
    EVAL_COMMAND,
    SFTP_SERVER,
    Request,
    classify,
    container_argv,
    container_env,
)

SHELL = "/bin/bash"


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize(
    ("original", "expected", "argv"),
    [
        # an interactive shell
        ("", Request(kind="shell"), [SHELL, "-l"]),
        ("   ", Request(kind="shell"), [SHELL, "-l"]),
        ("\n", Request(kind="shell"), [SHELL, "-l"]),
        # sftp: whichever Subsystem line the host's sshd has, the container's own server runs
        ("internal-sftp", Request(kind="sftp", command="internal-sftp"), [SFTP_SERVER]),
        (
            "/usr/lib/openssh/sftp-server",
            Request(kind="sftp", command="/usr/lib/openssh/sftp-server"),
            [SFTP_SERVER],
        ),
        (
            "/usr/libexec/openssh/sftp-server",
            Request(kind="sftp", command="/usr/libexec/openssh/sftp-server"),
            [SFTP_SERVER],
        ),
        (
            " /usr/lib/sftp-server -l INFO ",
            Request(kind="sftp", command="/usr/lib/sftp-server -l INFO"),
            [SFTP_SERVER],
        ),
        ("internal-sftp -u 022", Request(kind="sftp", command="internal-sftp -u 022"),
         [SFTP_SERVER]),
        ("sftp-server", Request(kind="sftp", command="sftp-server"), [SFTP_SERVER]),
    ],
)
def test_shell_and_sftp(original: str, expected: Request, argv: list[str], tty: bool) -> None:
    request = classify(original, tty=tty)
    # sftp is a byte stream: a pty would corrupt it, whatever the client asked for
    wanted = Request(kind=expected.kind, command=expected.command,
                     tty=tty if expected.kind == "shell" else False)
    assert request == wanted
    assert container_argv(request, shell=SHELL) == argv


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize(
    "original",
    [
        "ls",
        "scp -t /x",
        "scp -f /etc/hostname",
        "scp -r -t /tmp/d",
        "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/dest",
        "rsync --server --sender -vlogDtpre.iLsfxCIvu . /tmp/src/",
        """sh -c 'echo "a b" $HOME'; echo "it's" > /tmp/q""",
        "echo one\necho two",
        "  ls -la  ",
        "git-upload-pack '/srv/repo.git'",
        # only a program named exactly sftp-server (or internal-sftp) is sftp
        "sftp-server-evil",
        "/tmp/not-sftp-server",
        "internal-sftpx",
        "echo internal-sftp",
        "cat /usr/lib/openssh/sftp-server",
    ],
)
def test_commands_run_through_the_login_shell_unchanged(original: str, tty: bool) -> None:
    request = classify(original, tty=tty)
    assert request == Request(kind="command", command=original, tty=tty)
    # the text travels in the environment, whole; no argv holds it
    assert container_argv(request, shell=SHELL) == [SHELL, "-c", EVAL_COMMAND]
    assert container_env(request, shell=SHELL) == {COMMAND_VAR: original}


def test_the_command_is_one_value_never_split() -> None:
    original = "printf '%s\\n' \"a  b\" ; id"
    request = classify(original, tty=False)
    assert container_argv(request, shell="/bin/sh") == ["/bin/sh", "-c", EVAL_COMMAND]
    assert container_env(request, shell="/bin/sh") == {COMMAND_VAR: original}


@pytest.mark.parametrize("shell", ["/usr/bin/fish", "/bin/tcsh", "/usr/bin/nu"])
def test_a_shell_without_posix_eval_gets_the_command_as_before(shell: str) -> None:
    request = classify("ls -la", tty=False)
    assert container_argv(request, shell=shell) == [shell, "-c", "ls -la"]
    assert container_env(request, shell=shell) == {}


@pytest.mark.parametrize("original", ["", "internal-sftp", "podspawn-tunnel api"])
def test_only_commands_need_the_variable(original: str) -> None:
    assert container_env(classify(original, tty=False), shell=SHELL) == {}


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("podspawn-tunnel", Request(kind="tunnel", command="")),
        ("podspawn-tunnel api", Request(kind="tunnel", command="api")),
        (" podspawn-tunnel  api ", Request(kind="tunnel", command="api")),
        ("podspawn-hostkey", Request(kind="hostkey")),
        ("podspawn-tunnel api extra", Request(kind="command", command="podspawn-tunnel api extra")),
        ("podspawn-hostkey x", Request(kind="command", command="podspawn-hostkey x")),
        ("podspawn-tunnelx", Request(kind="command", command="podspawn-tunnelx")),
        ("podspawn-version", Request(kind="version")),
        (" podspawn-version ", Request(kind="version")),
        ("podspawn-version; id", Request(kind="command", command="podspawn-version; id")),
        ("podspawn-version x", Request(kind="command", command="podspawn-version x")),
    ],
)
def test_podspawn_connect_verbs(original: str, expected: Request) -> None:
    assert classify(original, tty=False) == expected
