#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what the tests need
# (Docker Engine, OpenSSH server and clients, rsync, sudo, debootstrap, gVisor, iptables,
# iproute2, and Prometheus, which the metrics test runs as a subprocess of its own), a
# development virtual environment, then runs ruff, mypy and pytest (unit
# and end-to-end).
#
#   sudo scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/test.sh: run it as root (sudo scripts/test.sh)" >&2; exit 1; }

need=""
for pair in dockerd:docker.io sshd:openssh-server ssh:openssh-client sftp:openssh-client \
            rsync:rsync sudo:sudo debootstrap:debootstrap tmux:tmux git:git runsc:runsc \
            iptables:iptables ip:iproute2 nsenter:util-linux prometheus:prometheus; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need="$need $pkg"
done
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
if [ -n "$need" ]; then
  echo "==> installing system packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $need >/dev/null
fi
scripts/start-services.sh

venv=.venv
if [ ! -x "$venv/bin/pytest" ]; then
  echo "==> creating $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$venv/.installed"
elif [ pyproject.toml -nt "$venv/.installed" ]; then
  echo "==> pyproject.toml changed: updating $venv"  # a new dependency reaches an old venv
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$venv/.installed"
fi

echo "==> ruff";   "$venv/bin/ruff" check src tests bench
echo "==> mypy";   "$venv/bin/mypy"
echo "==> pytest"; "$venv/bin/pytest" "$@"
