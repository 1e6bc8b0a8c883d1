"""Make a new session container the user's: their account, ids and files, then what the
project asks to run when a session starts.

The account is created in the container by :data:`USER_SETUP`, run as root. It has the
login's name and home, passwordless sudo, and the login account's **host uid** (and a group
of the same number), so no two tenants share a uid: per-uid kernel limits (inotify
instances, pipe buffers, pending signals) are each user's own, and no other host account
can read a user's processes through ``/proc/<pid>/root``. Images are shared by everyone, so
files an image's build user (uid 1000) left in the home are given to that uid, and a
workspace volume or persistent home made for another uid (the previous release ran everybody
as 1000) is given over once, the first time this uid meets it.

Dotfiles, extra repositories and ``on_start`` run as the user and only warn on failure: a
broken dotfiles repository must not keep anyone out of their environment.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from podspawn import log
from podspawn.errors import RuntimeFailure
from podspawn.runtime.base import Runtime
from podspawn.runtime.spec import EngineState

if TYPE_CHECKING:
    from podspawn.podfile import Podfile
    from podspawn.services.overrides import Effective

Progress = Callable[[str], None]

#: The uid of the build user in project images, and of every session before this release.
IMAGE_UID = 1000

#: Runs as root in a new container; prints the shell and home it settled on. A first login
#: waits for it, so it starts as few programs as it can (each costs a few ms): names are
#: cut out of ``getent`` lines by the shell, and a user it has just made with ``useradd``
#: is not checked again.
USER_SETUP = r"""set -e
u="$PODSPAWN_USER"; shell="$PODSPAWN_SHELL"; uid="$PODSPAWN_UID"; gid="$PODSPAWN_GID"
home="/home/$u"
[ -x "$shell" ] || shell=/bin/sh
free_id() { n=60000; while getent "$1" "$n" >/dev/null 2>&1; do n=$((n+1)); done; echo "$n"; }
# the name in the passwd or group entry of $2, or "" when there is none
name_of() { line=$(getent "$1" "$2" 2>/dev/null || true); echo "${line%%:*}"; }
made=""
if ! getent passwd "$u" >/dev/null 2>&1; then
  other=""
  # the image user the project names (a devcontainer's remoteUser), else uid 1000
  if [ -n "$PODSPAWN_IMAGE_USER" ]; then
    other=$(name_of passwd "$PODSPAWN_IMAGE_USER")
    [ -n "$other" ] || echo "podspawn: the image has no user $PODSPAWN_IMAGE_USER" >&2
  fi
  [ -n "$other" ] || other=$(name_of passwd 1000)
  if [ -n "$other" ] && [ "$(id -u "$other")" != 0 ]; then
    # that user (a project's build user, ubuntu's "ubuntu", the image's "vscode") becomes
    # $u, keeping what on_create left in its home
    group=$(id -gn "$other")
    if [ "$PODSPAWN_HOME_MOUNTED" = 1 ]; then
      usermod -l "$u" -d "$home" "$other"
      if [ -d "/home/$other" ] && [ ! -L "/home/$other" ]; then
        [ -n "$(ls -A "$home")" ] || cp -a "/home/$other/." "$home/"
        rm -rf "/home/$other"
      fi
      if [ "$group" = "$other" ]; then groupmod -n "$u" "$group"; fi
    elif [ "$group" = "$other" ]; then
      # one groupmod and one usermod: the name, numbers, shell and password at once, after
      # whoever else in the image holds either number has moved aside
      holder=$(name_of group "$gid")
      [ -z "$holder" ] || [ "$holder" = "$group" ] || groupmod -g "$(free_id group)" "$holder"
      holder=$(name_of passwd "$uid")
      [ -z "$holder" ] || [ "$holder" = "$other" ] || usermod -u "$(free_id passwd)" "$holder"
      groupmod -n "$u" -g "$gid" "$group"
      usermod -l "$u" -d "$home" -m -u "$uid" -s "$shell" -p '*' "$other"
      made=1
    else
      usermod -l "$u" -d "$home" -m "$other"
    fi
    # absolute paths baked at build time (a venv's scripts) keep working
    [ -e "/home/$other" ] || ln -s "$home" "/home/$other"
  else
    # whoever in the image holds either number is moved aside first
    holder=$(name_of group "$gid")
    [ -z "$holder" ] || [ "$holder" = "$u" ] || groupmod -g "$(free_id group)" "$holder"
    holder=$(name_of passwd "$uid")
    [ -z "$holder" ] || usermod -u "$(free_id passwd)" "$holder"
    if [ "$PODSPAWN_HOME_MOUNTED" = 1 ]; then make_home=-M; else make_home=-m; fi
    if getent group "$u" >/dev/null 2>&1; then
      useradd -u "$uid" -g "$u" "$make_home" -d "$home" -s "$shell" -p '*' "$u"
    else
      # -U: a group of the user's name, numbered as the uid when that is free (it is now)
      if [ "$gid" = "$uid" ]; then group_opt=-U; else groupadd -g "$gid" "$u"; group_opt="-g$u"; fi
      useradd -u "$uid" "$group_opt" "$make_home" -d "$home" -s "$shell" -p '*' "$u"
      made=1  # the name, both numbers, the shell and the password are as wanted
    fi
  fi
fi
if [ -z "$made" ]; then
  line=$(getent passwd "$u")
  [ "${line##*:}" = "$shell" ] || usermod -s "$shell" "$u"
  # the login account's host uid, and a group of the same number (an image's own user, or
  # a rename above, may have others); whoever in the image holds either number moves aside
  group=$(id -gn "$u")
  gline=$(getent group "$group")
  gnum=${gline#*:*:}
  if [ "${gnum%%:*}" != "$gid" ]; then
    holder=$(name_of group "$gid")
    [ -z "$holder" ] || groupmod -g "$(free_id group)" "$holder"
    groupmod -g "$gid" "$group"
  fi
  if [ "$(id -u "$u")" != "$uid" ]; then
    holder=$(name_of passwd "$uid")
    [ -z "$holder" ] || usermod -u "$(free_id passwd)" "$holder"
    usermod -u "$uid" "$u"
  fi
  usermod -p '*' "$u"
fi
[ -d "$home" ] || mkdir -p "$home"
# what was made for another uid (the image's build user, or everyone before this release)
# is handed over; root's files stay root's
for dir in "$home" ${PODSPAWN_WORKDIR:+"$PODSPAWN_WORKDIR"}; do
  [ -d "$dir" ] || continue
  # find, not stat: gVisor's statx refuses the flag stat(1) passes
  owners=$(find "$dir" -maxdepth 0 -printf '%U:%G')
  owner=${owners%%:*}; group_owner=${owners#*:}
  if [ "$owner" != 0 ] && [ "$owner" != "$uid" ]; then
    chown -R -h --from="$owner" "$uid:$gid" "$dir"
  fi
  if [ "$group_owner" != 0 ] && [ "$group_owner" != "$gid" ]; then
    chown -R -h --from=":$group_owner" ":$gid" "$dir"
  fi
done
# the project's fresh (empty) named volumes are the user's, as a devcontainer's are its user's
old_ifs=$IFS; IFS=:
for dir in $PODSPAWN_OWN; do
  if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then chown "$uid:$gid" "$dir"; fi
done
IFS=$old_ifs
rule="/etc/sudoers.d/podspawn-$u"
[ -d /etc/sudoers.d ] || mkdir -p /etc/sudoers.d
if [ -e "$rule" ]; then kept=1; else kept=""; fi
(umask 0337; printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$u" > "$rule")
[ -z "$kept" ] || chmod 0440 "$rule"
line=$(getent passwd "$u")
rest=${line#*:*:*:*:*:}
printf '%s\n%s\n' "$shell" "${rest%%:*}"
"""

def set_up_user(
    runtime: Runtime, engine: EngineState, *, user: str, uid: int, gid: int, shell: str,
    workdir: str = "", home_mounted: bool = False, image_user: str = "",
    own: tuple[str, ...] = (),
) -> tuple[str, str]:
    """Create the user's account in the container; return the (shell, home) it ended with.

    Raises:
        RuntimeFailure: the script failed (the image lacks useradd, for instance).
    """
    setup = runtime.exec(
        engine,
        ["sh", "-c", USER_SETUP],
        env={"PODSPAWN_USER": user, "PODSPAWN_SHELL": shell, "PODSPAWN_UID": str(uid),
             "PODSPAWN_GID": str(gid), "PODSPAWN_WORKDIR": workdir,
             "PODSPAWN_HOME_MOUNTED": "1" if home_mounted else "0",
             "PODSPAWN_IMAGE_USER": image_user, "PODSPAWN_OWN": ":".join(own)},
    )
    if setup.exit_code != 0:
        raise RuntimeFailure(
            "setting up your user in the container failed; ask an administrator to check "
            "the image",
            detail=setup.output.decode(errors="replace")[-2000:],
        )
    lines = setup.output.decode(errors="replace").strip().splitlines()
    if image_user and f"podspawn: the image has no user {image_user}" in lines:
        log.warning("the Podfile's image_user is not in the image; the uid-1000 user (if "
                    "any) was used instead", user=user, image_user=image_user)
    return lines[-2], lines[-1]


def _run_on_start(
    runtime: Runtime, engine: EngineState, user: str, home: str, workdir: str, script: str,
    progress: Progress | None, env: Mapping[str, str],
) -> None:
    """The Podfile's on_start, as the user in the workspace; output shown, failure a warning."""
    result = runtime.exec(engine, ["sh", "-c", script], user=user,
                          env={**env, "HOME": home, "USER": user}, workdir=workdir)
    text = result.output.decode(errors="replace").rstrip()
    if progress and text:
        for line in text.splitlines()[-40:]:
            progress(line)
    if result.exit_code != 0:
        log.warning("on_start failed", user=user, exit_code=result.exit_code)
        if progress:
            progress(f"warning: on_start exited with status {result.exit_code}")


def personalise(
    runtime: Runtime, engine: EngineState, *, user: str, home: str, workdir: str,
    settings: Effective, podfile: Podfile | None, progress: Progress | None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Dotfiles (the user's own replace the project's), extra repos, then on_start.

    Everything here runs as the user and only warns on failure: a broken dotfiles repo must
    not keep anyone out of their environment. ``env`` is the session's environment when the
    container does not carry it (a claimed warm-pool session).
    """
    repo, install = settings.dotfiles.repo, settings.dotfiles.install
    if not repo and podfile is not None and podfile.dotfiles is not None:
        repo, install = podfile.dotfiles.repo, podfile.dotfiles.install or ""
    session_env = dict(env or {})
    base_env = {**session_env, "HOME": home, "USER": user}
    if repo:
        _as_user(runtime, engine, user, home, _DOTFILES,
                 {**base_env, "REPO": repo, "INSTALL": install}, "installing your dotfiles",
                 progress)
    for extra in podfile.repos if podfile is not None else ():
        target = extra.path or posixpath.join(home, _repo_dir(extra.url))
        _as_user(runtime, engine, user, home, _CLONE,
                 {**base_env, "REPO": extra.url, "TARGET": target, "BRANCH": extra.branch or ""},
                 f"cloning {extra.url}", progress)
    if podfile is not None and podfile.extensions:
        _extensions(runtime, engine, user, home, podfile.extensions, progress)
    if podfile is not None and podfile.on_start:
        _run_on_start(runtime, engine, user, home, workdir, podfile.on_start, progress,
                      session_env)


#: Installs the extensions given as arguments with the image's VS Code server, if it has one.
_EXTENSIONS = r"""cs=$(command -v code-server || true)
if [ -z "$cs" ]; then
  for c in "$HOME"/.vscode-server/bin/*/bin/code-server; do
    if [ -x "$c" ]; then cs=$c; break; fi
  done
fi
[ -n "$cs" ] || { echo "no-server"; exit 0; }
for e in "$@"; do
  if "$cs" --install-extension "$e" >/dev/null 2>&1; then echo "installed $e"
  else echo "failed $e"; fi
done
"""


def _extensions(runtime: Runtime, engine: EngineState, user: str, home: str,
                extensions: tuple[str, ...], progress: Progress | None) -> None:
    """List the project's VS Code extensions to the user, installed when the image has the
    VS Code server (an offline server may fail to fetch them: then they are only listed)."""
    result = runtime.exec(engine, ["sh", "-c", _EXTENSIONS, "sh", *extensions], user=user,
                          env={"HOME": home, "USER": user}, workdir=home)
    lines = result.output.decode(errors="replace").split("\n")
    installed = [line.removeprefix("installed ") for line in lines if line.startswith("installed ")]
    missing = [ext for ext in extensions if ext not in installed]
    log.info("listed the project's VS Code extensions", user=user, installed=len(installed),
             listed=len(extensions))
    if progress is None:
        return
    progress(f"This project recommends {len(extensions)} VS Code extension(s): "
             + ", ".join(extensions))
    if installed:
        progress("  installed in the container's VS Code server: " + ", ".join(installed))
    if missing:
        progress("  install in your editor: " + ", ".join(missing))


_DOTFILES = (
    'command -v git >/dev/null 2>&1 || { echo "git is not in the image" >&2; exit 1; }\n'
    'git clone --depth 1 -q -- "$REPO" "$HOME/dotfiles" && cd "$HOME/dotfiles" '
    '&& if [ -n "$INSTALL" ]; then sh -c "$INSTALL"; fi\n'
)
_CLONE = (
    'command -v git >/dev/null 2>&1 || { echo "git is not in the image" >&2; exit 1; }\n'
    'set -- git clone -q --single-branch\n'
    'if [ -n "$BRANCH" ]; then set -- "$@" --branch "$BRANCH"; fi\n'
    '"$@" -- "$REPO" "$TARGET"\n'
)


def _repo_dir(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return name.removesuffix(".git") or "repo"


def _as_user(
    runtime: Runtime, engine: EngineState, user: str, home: str, script: str,
    env: dict[str, str], what: str, progress: Progress | None,
) -> None:
    result = runtime.exec(engine, ["sh", "-c", script], user=user, env=env, workdir=home)
    if result.exit_code != 0:
        tail = result.output.decode(errors="replace").strip().splitlines()[-3:]
        log.warning(f"{what} failed", user=user, output=" | ".join(tail))
        if progress:
            progress(f"warning: {what} failed: " + " ".join(tail)[:200])


