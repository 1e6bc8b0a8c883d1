#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine, as root: installs what the tests need
# (Docker Engine, rootful Podman, OpenSSH server and clients, rsync, sudo, debootstrap,
# gVisor, iptables, iproute2, and Prometheus, which the metrics test runs as a subprocess of
# its own, and Debian's docker-registry, which the devcontainer Features test runs on a loopback
# port of its own), a development virtual environment, then runs ruff, mypy and pytest (unit and
# end-to-end).
#
#   sudo scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "scripts/test.sh: run it as root (sudo scripts/test.sh)" >&2; exit 1; }

need=""
for pair in dockerd:docker.io sshd:openssh-server ssh:openssh-client sftp:openssh-client \
            rsync:rsync sudo:sudo debootstrap:debootstrap tmux:tmux git:git runsc:runsc \
            iptables:iptables ip:iproute2 nsenter:util-linux podman:podman \
            prometheus:prometheus docker-registry:docker-registry; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need="$need $pkg"
done
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
# Podman's networking and init (not among its dependencies on Debian 12)
for pair in /usr/lib/podman/netavark:netavark /usr/lib/podman/aardvark-dns:aardvark-dns \
            /usr/libexec/podman/catatonit:catatonit; do
  [ -x "${pair%%:*}" ] || need="$need ${pair#*:}"
done
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

# The tutorial's end-to-end tests (marked podman) once more, on rootful Podman, under a run
# id of their own. PODSPAWN_E2E_PODMAN=0 skips this pass; a selection that holds none of
# those tests (pytest's exit status 5) is not a failure.
if [ "${PODSPAWN_E2E_PODMAN:-1}" != 0 ]; then
  echo "==> pytest on Podman"
  status=0
  PODSPAWN_E2E_BACKEND=podman PODSPAWN_E2E_ID="${PODSPAWN_E2E_ID:-}pm" \
    "$venv/bin/pytest" -m podman "$@" || status=$?
  [ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"
fi
