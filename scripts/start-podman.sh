#!/usr/bin/env bash
# Rootful Podman's API service on /run/podman/podman.sock (what runtime.backend: podman
# talks to), with systemd's podman.socket where systemd is PID 1 and a backgrounded
# `podman system service` where it is not. Idempotent.
#
# First, /etc/containers/containers.conf.d/podspawn.conf: Podman's default ulimits (nofile
# and nproc of 1048576) are above what a machine without CAP_SYS_RESOURCE may set, and then
# every container fails ("error setting rlimit type 7: operation not permitted"); they are
# set to this machine's own hard limits (nproc no higher than kernel.pid_max, which Podman
# caps its own limit at). Also: the cgroupfs manager and file events where systemd is not
# PID 1, and netavark (with aardvark-dns, so a session reaches its companions by name).
set -euo pipefail
socket=/run/podman/podman.sock
log=/var/log/podman-service.log
has_systemd() { [ -d /run/systemd/system ]; }

nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max)
[ "$nofile" = unlimited ] && nofile=1048576
{ [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; } && nproc=$pid_max
if has_systemd; then manager=systemd; events=journald; else manager=cgroupfs; events=file; fi
conf=$(cat <<CONF
# Written by podspawn's scripts/start-podman.sh.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[network]
network_backend = "netavark"
[engine]
cgroup_manager = "$manager"
events_logger = "$events"
CONF
)
mkdir -p /etc/containers/containers.conf.d
dropin=/etc/containers/containers.conf.d/podspawn.conf
changed=no
if [ "$(cat "$dropin" 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" >"$dropin"
  changed=yes
fi

answers() { podman --remote --url "unix://$socket" version >/dev/null 2>&1; }
if has_systemd; then
  systemctl enable --now podman.socket >/dev/null
  [ "$changed" = yes ] && systemctl restart podman.service >/dev/null 2>&1 || true
else
  if [ "$changed" = yes ] && [ -f /run/podman/podspawn-service.pid ]; then
    kill "$(cat /run/podman/podspawn-service.pid)" 2>/dev/null || true  # re-read the config
    sleep 0.5
  fi
  if ! answers; then
    mkdir -p /run/podman
    # setsid in a subshell: not a child of a caller that exec()s a long-lived program
    ( setsid podman system service --time=0 "unix://$socket" >>"$log" 2>&1 &
      echo $! >/run/podman/podspawn-service.pid )
  fi
fi
for _ in $(seq 1 60); do answers && break; sleep 0.25; done
answers || { echo "podman's API service did not start; see $log" >&2; exit 1; }
