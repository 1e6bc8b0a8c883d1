#!/usr/bin/env bash
# Start dockerd and sshd if they are not running, with systemd where it is PID 1 and
# directly where it is not (containers, CI machines). Idempotent. If gVisor's runsc is
# installed, it is registered with Docker first (scripts/register-runsc.sh), so that a
# dockerd started here already knows it. If Podman is installed, its API service is
# started too (scripts/start-podman.sh), for runtime.backend: podman.
set -euo pipefail
has_systemd() { [ -d /run/systemd/system ]; }

if command -v runsc >/dev/null 2>&1; then
  "$(dirname "$0")/register-runsc.sh" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if has_systemd; then
    systemctl enable --now docker >/dev/null
  else
    nohup dockerd >>/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

ssh-keygen -A >/dev/null
if ! pgrep -x sshd >/dev/null 2>&1; then
  if has_systemd; then
    systemctl enable --now ssh >/dev/null
  else
    mkdir -p /run/sshd
    /usr/sbin/sshd
  fi
fi

if command -v podman >/dev/null 2>&1; then
  "$(dirname "$0")/start-podman.sh"
fi
