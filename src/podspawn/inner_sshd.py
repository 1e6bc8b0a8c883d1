"""The SSH server that ``.pod`` connections end in, inside the user's container.

Host sshd cannot forward into a container (it serves forwards in the host's namespaces), so
for ``ssh sarah@api.pod`` the client's real SSH session is carried, through an outer
connection whose forced command asks for a tunnel, to ``sshd -i`` running in the container.
Every channel type (forwards, agent, X11, VS Code's exec and sftp) then works natively there.

All the inner server needs is written by the same ``docker exec`` that starts it: its config,
the user's authorized keys (the key file ``auth-keys`` serves; readable, since sshd reads
them with the user's privileges) and the per-user pod
host key, passed as environment variables so no extra round trip is paid per connection.
The session wrapper keeps ``~/.ssh/agent.sock`` pointing at the newest forwarded agent, so a
long-lived process keeps a working agent after the connection that started it has closed.
"""

from __future__ import annotations

from podspawn.shells import POSIX_SHELLS

CONFIG_DIR = "/etc/podspawn"

# The command runs from $SSH_ORIGINAL_COMMAND with eval, not as an argument of the shell,
# so that it is not in any argv that the host's process list shows (``login.router``).
SESSION_WRAPPER = """#!/bin/sh
# the container's environment (Podfile env, PODSPAWN_*), which sshd -i does not pass on
if [ -r /etc/podspawn/environment ]; then . /etc/podspawn/environment; fi
if [ -n "$SSH_AUTH_SOCK" ] && [ -n "$HOME" ]; then
  mkdir -p "$HOME/.ssh" 2>/dev/null && chmod 700 "$HOME/.ssh" 2>/dev/null
  if ln -sfn "$SSH_AUTH_SOCK" "$HOME/.ssh/agent.sock" 2>/dev/null; then
    SSH_AUTH_SOCK="$HOME/.ssh/agent.sock"; export SSH_AUTH_SOCK
  fi
fi
[ -x "$SHELL" ] || SHELL=/bin/sh
cd "${PODSPAWN_WORKDIR:-$HOME}" 2>/dev/null || cd "$HOME" 2>/dev/null
if [ -z "$SSH_ORIGINAL_COMMAND" ]; then
  exec "$SHELL" -l
fi
case "${SHELL##*/}" in
  POSIX_SHELLS) exec "$SHELL" -c 'eval "$SSH_ORIGINAL_COMMAND"' ;;
esac
exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND"
""".replace("POSIX_SHELLS", "|".join(sorted(POSIX_SHELLS)))

#: Bumped whenever the files below change, so that a container started by an older release
#: gets the new ones at its next connection (2: the wrapper keeps the command out of argv).
LAYOUT = "2"

_START = r"""set -e
# Once per container and layout: config, host key and session wrapper. Later connections
# only refresh the keys, with shell builtins, so no extra process is started.
if [ ! -f /etc/podspawn/layout-LAYOUT ]; then
  mkdir -p /etc/podspawn /run/sshd
  chmod 0755 /etc/podspawn
  umask 077
  printf '%s\n' "$PODSPAWN_HOST_KEY" > /etc/podspawn/ssh_host_ed25519_key
  printf '%s\n' "$PODSPAWN_SSHD_CONFIG" > /etc/podspawn/sshd_config.new
  umask 022
  printf '%s' "$PODSPAWN_SESSION" > /etc/podspawn/session.new
  chmod 0755 /etc/podspawn/session.new
  mv /etc/podspawn/session.new /etc/podspawn/session
  mv /etc/podspawn/sshd_config.new /etc/podspawn/sshd_config
  : > /etc/podspawn/layout-LAYOUT
fi
umask 022
printf '%s\n' "$PODSPAWN_AUTHORIZED_KEYS" > /etc/podspawn/authorized_keys
unset PODSPAWN_SSHD_CONFIG PODSPAWN_AUTHORIZED_KEYS PODSPAWN_HOST_KEY PODSPAWN_SESSION
unset HOME HOSTNAME PWD OLDPWD SHLVL USER LOGNAME SHELL
if [ ! -f /etc/podspawn/environment ]; then
  export -p > /etc/podspawn/environment.new
  mv /etc/podspawn/environment.new /etc/podspawn/environment
fi
exec /usr/sbin/sshd -i -f /etc/podspawn/sshd_config
""".replace("LAYOUT", LAYOUT)


def render_config(user: str) -> str:
    """sshd_config for the in-container server: one user, keys only, forwarding on."""
    return "\n".join(
        [
            f"HostKey {CONFIG_DIR}/ssh_host_ed25519_key",
            f"AuthorizedKeysFile {CONFIG_DIR}/authorized_keys",
            f"AllowUsers {user}",
            "PermitRootLogin no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AllowTcpForwarding yes",
            "AllowStreamLocalForwarding yes",
            "AllowAgentForwarding yes",
            "X11Forwarding yes",
            "X11UseLocalhost yes",
            "PermitTunnel no",
            "GatewayPorts no",
            "PermitUserRC no",
            "PrintMotd no",
            "PrintLastLog no",
            "PidFile none",
            "LogLevel ERROR",
            "AcceptEnv LANG LC_* TERM COLORTERM",
            f"ForceCommand {CONFIG_DIR}/session",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
        ]
    )


def start_command() -> list[str]:
    return ["sh", "-c", _START]


def check_command() -> list[str]:
    """The same start script ending in ``sshd -t`` instead of ``-i``: ``doctor`` proves that
    an image's sshd accepts this config without serving anyone."""
    return ["sh", "-c", _START.replace("exec /usr/sbin/sshd -i ", "exec /usr/sbin/sshd -t ")]


def start_env(
    *, user: str, authorized_keys: str, host_key: str, project: str = "", workdir: str = ""
) -> dict[str, str]:
    """What the start script writes; the ``PODSPAWN_USER``/``PROJECT``/``WORKDIR`` values
    stay in the environment file that every in-container session reads."""
    return {
        "PODSPAWN_USER": user,
        "PODSPAWN_PROJECT": project,
        "PODSPAWN_WORKDIR": workdir,
        "PODSPAWN_SSHD_CONFIG": render_config(user),
        "PODSPAWN_AUTHORIZED_KEYS": authorized_keys.strip(),
        "PODSPAWN_HOST_KEY": host_key.strip(),
        "PODSPAWN_SESSION": SESSION_WRAPPER,
    }
