#!/usr/bin/env bash
# Install podspawn system-wide on a Debian or Ubuntu server and set it up for real:
# system packages (Docker Engine if none, openssh-server, sudo, debootstrap), a root-owned
# virtual environment, /usr/local/bin/podspawn, a base image, and `podspawn server-setup`.
# With --client, only the command (for a laptop: podspawn setup, connect, ssh, open).
#
#   sudo ./install.sh [--prefix /opt/podspawn] [--bin-dir /usr/local/bin] [--image debian:bookworm]
#                     [--no-system-packages] [--no-setup] [--client]
set -euo pipefail

prefix=/opt/podspawn
bin_dir=/usr/local/bin
image=debian:bookworm
system=1
setup=1
client=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --no-system-packages) system=0; shift ;;
    --no-setup) setup=0; shift ;;
    --client) client=1; setup=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run it as root (sudo ./install.sh)" >&2; exit 1; }
src=$(cd "$(dirname "$0")" && pwd)

if [ "$system" -eq 1 ]; then
  say "installing system packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  if [ "$client" -eq 1 ]; then
    pkgs="python3 python3-venv openssh-client"
  else
    pkgs="python3 python3-venv openssh-server openssh-client sudo debootstrap rsync git ca-certificates"
    command -v dockerd >/dev/null 2>&1 || pkgs="$pkgs docker.io"
  fi
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $pkgs >/dev/null
fi

[ "$client" -eq 1 ] || "$src/scripts/start-services.sh"

say "installing podspawn into $prefix"
install -d -m 0755 -o root -g root "$prefix"
/usr/bin/python3 -m venv --clear "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --disable-pip-version-check "$src"
site=$("$prefix/venv/bin/python" -c 'import podspawn, os; print(os.path.dirname(podspawn.__file__))')
git -C "$src" rev-parse --short HEAD 2>/dev/null > "$site/_build_commit.txt" || echo unknown > "$site/_build_commit.txt"
# Our own launcher instead of pip's, whose `import re` costs every login about 20 ms
# (auth-keys runs twice per login); -I: root runs it, so no PYTHON* variables or user site.
printf '#!%s -I\nimport sys\nfrom podspawn.__main__ import main\nsys.exit(main())\n' \
  "$prefix/venv/bin/python3" > "$prefix/venv/bin/podspawn"
chmod 0755 "$prefix/venv/bin/podspawn"
chown -R root:root "$prefix"
chmod -R go-w "$prefix"
install -d -m 0755 "$bin_dir"
ln -sfn "$prefix/venv/bin/podspawn" "$bin_dir/podspawn"
"$bin_dir/podspawn" version

if [ "$client" -eq 1 ]; then
  say "done: run  podspawn setup  and  podspawn config set servers.default YOUR-SERVER"
  exit 0
fi
[ "$setup" -eq 1 ] || exit 0

if [ ! -e /etc/podspawn/config.yaml ]; then
  say "writing /etc/podspawn/config.yaml (sessions use $image)"
  install -d -m 0755 /etc/podspawn
  printf 'defaults:\n  image: %s\n' "$image" > /etc/podspawn/config.yaml
  chmod 0644 /etc/podspawn/config.yaml
fi
if ! docker image inspect "$image" >/dev/null 2>&1; then
  say "building base image $image with debootstrap"
  "$bin_dir/podspawn" images bootstrap "$image"
fi
"$bin_dir/podspawn" server-setup
say "done: add a user with  sudo podspawn add-user NAME --key-file KEY.pub  then  ssh NAME@$(hostname)"
