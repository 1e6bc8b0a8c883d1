#!/usr/bin/env bash
# Register gVisor's runsc with Docker as the runtime "runsc", for `security.runtime: runsc`.
#
#   sudo scripts/register-runsc.sh [--replace]
#
# Merges runtimes.runsc into /etc/docker/daemon.json (every other key is kept; the old file
# is backed up next to it), then makes a running dockerd re-read it with SIGHUP, which
# leaves running containers alone. An existing runtimes.runsc entry is left as the admin
# wrote it unless --replace is given. Why --network=host: docs/gvisor.md.
set -euo pipefail
replace=0
case "${1:-}" in
  "") ;;
  --replace) replace=1 ;;
  *) echo "usage: $0 [--replace]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "$0: run it as root" >&2; exit 1; }
runsc=$(command -v runsc || true)
[ -n "$runsc" ] || { echo "$0: runsc is not installed; install it with: apt-get install runsc" >&2; exit 1; }
conf=${DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}

# prints "unchanged", "kept", "created" or "changed" (the old file is then $conf.podspawn-bak)
outcome=$(RUNSC="$runsc" CONF="$conf" REPLACE="$replace" python3 - <<'EOF'
import json, os, shutil, sys, tempfile

conf, runsc, replace = os.environ["CONF"], os.environ["RUNSC"], os.environ["REPLACE"] == "1"
wanted = {"path": runsc, "runtimeArgs": ["--network=host"]}
data = {}
if os.path.exists(conf):
    try:
        with open(conf, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f"{conf} is not valid JSON ({exc}); fix it, then run this again")
    if not isinstance(data, dict) or not isinstance(data.get("runtimes", {}), dict):
        sys.exit(f"{conf} must be a JSON object whose 'runtimes' is an object; fix it first")
runtimes = data.setdefault("runtimes", {})
current = runtimes.get("runsc")
if current == wanted:
    print("unchanged")
    sys.exit(0)
if current is not None and not replace:
    print("kept")
    sys.exit(0)
runtimes["runsc"] = wanted
os.makedirs(os.path.dirname(conf), exist_ok=True)
existed = os.path.exists(conf)
if existed:
    shutil.copy2(conf, conf + ".podspawn-bak")
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(conf), prefix=".daemon.json.")
with os.fdopen(fd, "w", encoding="utf-8") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
    f.flush()
    os.fsync(f.fileno())
os.chmod(tmp, 0o644)
os.replace(tmp, conf)
print("changed" if existed else "created")
EOF
)

case "$outcome" in
  unchanged) echo "runsc is registered with Docker already"; exit 0 ;;
  kept) echo "$conf already has a runtimes.runsc entry; left as it is (--replace overwrites it)"
        exit 0 ;;
esac

registered() { docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }
reload() {
  if [ -d /run/systemd/system ] && systemctl is-active --quiet docker; then
    systemctl reload docker
    return
  fi
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    kill -HUP "$pid"
  fi
}

if ! docker info >/dev/null 2>&1; then
  echo "registered runsc in $conf; dockerd reads it when it starts"
  exit 0
fi
reload
for _ in $(seq 1 40); do registered && break; sleep 0.25; done
if ! registered; then
  if [ "$outcome" = created ]; then rm -f "$conf"; else cp -p "$conf.podspawn-bak" "$conf"; fi
  reload || true
  echo "$0: dockerd did not take the new $conf (restored the old one); see the dockerd log" >&2
  exit 1
fi
echo "registered runsc in $conf and reloaded dockerd"
