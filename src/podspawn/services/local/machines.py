"""Named machines: ``create``, ``shell``, ``run``, ``rm``, ``switch-branch`` and ``list``.

A machine is a name the user chose, kept in ``~/.podspawn/machines/<name>.json``, with
either an image (``--image``) or a project: a git repository (a URL or a local path, what
``git clone`` takes) cloned at a branch into ``~/.podspawn/workspaces/<name>``. Its session
is an ordinary local session of that name, with the workspace bind-mounted at the Podfile's
``workspace`` and the image ``add-project`` would build from that checkout. The session
comes and goes (grace period, ``rm``); the machine and its workspace stay until ``rm``.

A failing ``on_create`` keeps the workspace and marks the machine ``preserved``: ``create``
again retries, ``rm`` discards. ``run`` makes a throw-away machine: its checkout (if any)
is a temporary clone, removed with the session when the command ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, replace

from podspawn import log
from podspawn.errors import Conflict, NotFound, RuntimeFailure, UsageError
from podspawn.names import validate_project
from podspawn.procs import start_time
from podspawn.services.local import sessions
from podspawn.services.local.context import LocalContext, project_name, state_dir
from podspawn.services.local.workspace import OnCreateFailed, forget_on_create
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import add_connection, get_session, list_sessions

Progress = sessions.Progress


@dataclass(frozen=True, slots=True)
class Machine:
    name: str
    image: str = ""
    """``--image``; "" for a project machine (its image comes from the checkout)."""
    project: str = ""
    """The repository cloned (URL or path), or ""."""
    branch: str = ""
    workspace: str = ""
    status: str = "ready"
    """``ready``, or ``preserved`` after a failed on_create."""
    created_at: float = 0.0


def _machines_dir() -> str:
    return os.path.join(state_dir(), "machines")


def workspaces_dir() -> str:
    return os.path.join(state_dir(), "workspaces")


def find_machine(name: str) -> Machine | None:
    try:
        with open(os.path.join(_machines_dir(), f"{name}.json"), encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    return Machine(**{k: v for k, v in data.items() if k in Machine.__dataclass_fields__})


def _save(machine: Machine) -> None:
    os.makedirs(_machines_dir(), mode=0o700, exist_ok=True)
    path = os.path.join(_machines_dir(), f"{machine.name}.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(asdict(machine), handle, indent=2)
    os.replace(tmp, path)


def _forget(name: str) -> None:
    try:
        os.unlink(os.path.join(_machines_dir(), f"{name}.json"))
    except FileNotFoundError:
        pass


def all_machines() -> list[Machine]:
    try:
        names = sorted(os.listdir(_machines_dir()))
    except FileNotFoundError:
        return []
    found = (find_machine(n[:-5]) for n in names if n.endswith(".json"))
    return [m for m in found if m is not None]


# -- git ---------------------------------------------------------------------------------


def _git(*args: str, cwd: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd or None, capture_output=True, text=True,
                          check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})


def _clone(source: str, branch: str, target: str) -> str:
    """Clone ``source`` into ``target``; returns the branch checked out.

    Raises:
        UsageError: git could not clone it (the message has git's last line).
    """
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    if os.path.isdir(source):
        source = os.path.abspath(source)
    done = _git("clone", "-q", *(["--branch", branch] if branch else []), "--", source, target)
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"could not clone {source}{' at branch ' + branch if branch else ''}"
                         f" ({last}); check --project and --branch")
    head = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=target).stdout.strip()
    return branch or head


# -- sessions of machines ----------------------------------------------------------------


def _connection(ctx: LocalContext, name: str) -> Connection:
    return Connection(user=ctx.me.user, project=name, pid=os.getpid(),
                      pid_start=start_time(os.getpid()) or 0, started_at=time.time())


def _start(ctx: LocalContext, machine: Machine, *, ephemeral: bool,
           progress: Progress | None) -> SessionRow:
    """The machine's session, started; the caller holds the lock.

    Raises:
        OnCreateFailed: with the retry and discard commands (the machine is preserved).
    """
    podfile = None
    project = machine.name
    image = machine.image or ctx.config.defaults.image
    if machine.workspace:
        loaded = sessions.load_checkout(machine.workspace)
        podfile = loaded.podfile
        project = project_name(machine.workspace, podfile.name)
        try:
            image = sessions.image_for(ctx, machine.workspace, loaded, progress)
        except RuntimeFailure as exc:
            if ephemeral or not exc.message.startswith("on_create of project"):
                raise
            _save(replace(machine, status="preserved"))  # it failed in the image build
            raise OnCreateFailed(_preserved(machine, "in the image build"), exit_code=1,
                                 output=exc.message) from None
    start = sessions.Start(name=machine.name, project=project, image=image, podfile=podfile,
                           directory=machine.workspace,
                           mount="bind" if machine.workspace else "none",
                           ephemeral=ephemeral, extra={"machine": machine.name,
                                                       "branch": machine.branch})
    try:
        row = sessions.create_session(ctx, start, progress)
    except OnCreateFailed as exc:
        if ephemeral:
            raise
        _save(replace(machine, status="preserved"))
        raise OnCreateFailed(_preserved(machine, f"with status {exc.exit_code}"),
                             exit_code=exc.exit_code, output=exc.output) from None
    if machine.status != "ready":
        _save(replace(machine, status="ready"))
    return row


def check_request(name: str, *, image: str, project: str, branch: str) -> None:
    """What ``create`` and ``run`` refuse before anything is touched (pure).

    Raises:
        InvalidName: ``name`` cannot name a machine.
        UsageError: ``--branch`` without ``--project``, or ``--image`` with it.
    """
    validate_project(name)
    if branch and not project:
        raise UsageError("--branch requires --project: give the repository to check out "
                         "with --project")
    if image and project:
        raise UsageError("--image and --project exclude each other: a project machine "
                         "takes its image from the project's Podfile")


def _preserved(machine: Machine, how: str) -> str:
    return (f"on_create of machine {machine.name} failed {how}; its workspace is kept at "
            f"{machine.workspace}: fix it and run 'podspawn create {machine.name}' to retry, "
            f"or 'podspawn rm {machine.name}' to discard it")


def create(ctx: LocalContext, name: str, *, image: str = "", project: str = "",
           branch: str = "", progress: Progress | None = None) -> tuple[Machine, bool]:
    """Make the machine (or retry a preserved one) and start its session; returns it and
    whether it was new.

    Raises:
        UsageError: ``--branch`` without ``--project``, ``--image`` with it, or a name or
            settings that clash with what exists.
        OnCreateFailed: see :func:`_start`.
    """
    check_request(name, image=image, project=project, branch=branch)
    with sessions.locked(ctx):
        sessions.reconcile(ctx)
        machine = find_machine(name)
        new = machine is None
        if machine is not None:
            if project and project != machine.project:
                raise UsageError(f"machine {name} already uses project "
                                 f"{machine.project or '(none)'}; 'podspawn rm {name}' first")
            if branch and branch != machine.branch:
                raise UsageError(f"machine {name} is on branch {machine.branch}; use "
                                 f"'podspawn switch-branch {name} {branch}'")
            if image and image != machine.image:
                raise UsageError(f"machine {name} already uses image "
                                 f"{machine.image or '(its project)'}; 'podspawn rm {name}' "
                                 "first")
        elif get_session(ctx.conn, ctx.me.user, name) is not None:
            raise Conflict(f"a 'podspawn dev' session is already named {name}; choose "
                           "another name or end it with 'podspawn down --name "
                           f"{name}'")
        else:
            workspace = os.path.join(workspaces_dir(), name) if project else ""
            if workspace and os.path.exists(workspace):
                raise Conflict(f"{workspace} exists but no machine {name} is recorded; move "
                               "it away and try again")
            used = _clone(project, branch, workspace) if project else ""
            machine = Machine(name=name, image=image, project=project, branch=used,
                              workspace=workspace, created_at=time.time())
            _save(machine)
        if get_session(ctx.conn, ctx.me.user, name) is None:
            try:
                _start(ctx, machine, ephemeral=False, progress=progress)
            except BaseException as exc:
                if new and not isinstance(exc, OnCreateFailed):
                    _discard(ctx, machine)
                raise
    return machine, new


def _discard(ctx: LocalContext, machine: Machine) -> None:
    if machine.workspace:
        shutil.rmtree(machine.workspace, ignore_errors=True)
        forget_on_create(state_dir(), machine.workspace)
    _forget(machine.name)


def shell(ctx: LocalContext, name: str, *, progress: Progress | None = None
          ) -> sessions.Attached:
    """Attach to the machine's session, starting it (or a new plain machine) if needed."""
    validate_project(name)
    connection = _connection(ctx, name)
    with sessions.locked(ctx):
        sessions.reconcile(ctx)
        row = get_session(ctx.conn, ctx.me.user, name)
        if row is not None:
            return sessions.join(ctx, row, connection)
        machine = find_machine(name)
        if machine is None:
            machine = Machine(name=name, created_at=time.time())
            _save(machine)
            try:
                row = _start(ctx, machine, ephemeral=False, progress=progress)
            except BaseException:
                _forget(name)
                raise
        else:
            row = _start(ctx, machine, ephemeral=False, progress=progress)
        add_connection(ctx.conn, connection)
    return sessions.Attached(row=row, banner=sessions.banner_of(row, reattached=False),
                             connection=connection)


@dataclass
class Throwaway:
    attached: sessions.Attached
    workspace: str


def run(ctx: LocalContext, name: str, *, image: str = "", project: str = "",
        branch: str = "", progress: Progress | None = None) -> Throwaway:
    """A throw-away machine: its session is ephemeral, and :func:`finish_run` removes it
    and its temporary checkout.

    Raises:
        UsageError: ``--branch`` without ``--project``, or the name is taken.
    """
    check_request(name, image=image, project=project, branch=branch)
    connection = _connection(ctx, name)
    with sessions.locked(ctx):
        sessions.reconcile(ctx)
        if find_machine(name) is not None or get_session(ctx.conn, ctx.me.user,
                                                         name) is not None:
            raise Conflict(f"{name} is already a machine or session; 'podspawn run' makes a "
                           "throw-away one, so give it a new name (or use 'podspawn shell "
                           f"{name}')")
        workspace = ""
        if project:
            workspace = os.path.join(workspaces_dir(), f".tmp-{name}-{uuid.uuid4().hex[:8]}")
            used = _clone(project, branch, workspace)
        else:
            used = ""
        machine = Machine(name=name, image=image, project=project, branch=used,
                          workspace=workspace, created_at=time.time())
        try:
            row = _start(ctx, machine, ephemeral=True, progress=progress)
        except BaseException:
            _discard_workspace(workspace)
            raise
        add_connection(ctx.conn, connection)
    attached = sessions.Attached(row=row, banner=sessions.banner_of(row, reattached=False),
                                 connection=connection)
    return Throwaway(attached=attached, workspace=workspace)


def _discard_workspace(workspace: str) -> None:
    if workspace:
        shutil.rmtree(workspace, ignore_errors=True)
        forget_on_create(state_dir(), workspace)


def finish_run(ctx: LocalContext, thrown: Throwaway) -> None:
    """End a throw-away machine's session (whatever its mode) and remove its checkout."""
    sessions.leave(ctx, thrown.attached)
    with sessions.locked(ctx):
        row = get_session(ctx.conn, ctx.me.user, thrown.attached.row.project)
        if row is not None and row.id == thrown.attached.row.id:
            sessions.destroy(ctx, row, "disconnect")
    _discard_workspace(thrown.workspace)


def _live(ctx: LocalContext, name: str) -> SessionRow | None:
    row = get_session(ctx.conn, ctx.me.user, name)
    return row if row is not None and row.connections > 0 else None


def rm(ctx: LocalContext, name: str, *, force: bool = False) -> Machine:
    """Remove the machine: its session, workspace and record.

    Raises:
        NotFound: no such machine.
        Conflict: a shell is attached and ``force`` is not given.
    """
    validate_project(name)
    with sessions.locked(ctx):
        sessions.reconcile(ctx)
        machine = find_machine(name)
        if machine is None:
            raise NotFound(f"no machine named {name}; 'podspawn list' shows yours")
        live = _live(ctx, name)
        if live is not None and not force:
            raise Conflict(f"machine {name} has {live.connections} shell(s) attached; leave "
                           f"them first, or run 'podspawn rm {name} --force'")
        row = get_session(ctx.conn, ctx.me.user, name)
        if row is not None:
            sessions.destroy(ctx, row, "rm")
        _discard(ctx, machine)
    log.info("removed local machine", machine=name)
    return machine


def switch_branch(ctx: LocalContext, name: str, branch: str) -> Machine:
    """Check out ``branch`` in the machine's workspace; the next start runs on_create again.

    Raises:
        NotFound: no such machine. UsageError: it has no project, or git refused.
        Conflict: a shell is attached, or the workspace has uncommitted changes.
    """
    validate_project(name)
    if not branch or branch.startswith("-"):
        raise UsageError(f"{branch!r} is not a branch name; give one such as main")
    with sessions.locked(ctx):
        sessions.reconcile(ctx)
        machine = find_machine(name)
        if machine is None:
            raise NotFound(f"no machine named {name}; 'podspawn list' shows yours")
        if not machine.workspace:
            raise UsageError(f"machine {name} has no project checkout to switch; only "
                             "machines made with --project have branches")
        if _live(ctx, name) is not None:
            raise Conflict(f"machine {name} has a shell attached; leave it before switching "
                           "branches")
        dirty = _git("status", "--porcelain", cwd=machine.workspace)
        if dirty.returncode != 0 or dirty.stdout.strip():
            raise Conflict(f"machine {name} has uncommitted changes in {machine.workspace}; "
                           "commit or stash them before switching branches")
        refspec = f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
        fetched = _git("fetch", "-q", "origin", refspec, cwd=machine.workspace)
        if fetched.returncode != 0:
            last = (fetched.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"could not fetch branch {branch} of machine {name} ({last}); "
                             "check the branch name")
        switched = _git("checkout", "-q", "-B", branch, f"origin/{branch}",
                        cwd=machine.workspace)
        if switched.returncode != 0:
            raise RuntimeFailure(f"git could not check out {branch} in {machine.workspace}",
                                 detail=switched.stderr)
        row = get_session(ctx.conn, ctx.me.user, name)
        if row is not None:  # idle: its on_create ran on the old branch
            sessions.destroy(ctx, row, "switch_branch")
        forget_on_create(state_dir(), machine.workspace)
        machine = replace(machine, branch=branch, status="ready")
        _save(machine)
    return machine


# -- list --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    name: str
    kind: str
    """``machine`` or ``session`` (a ``dev`` checkout's)."""
    status: str
    branch: str
    image: str
    created_at: float
    session: SessionRow | None


def listing(ctx: LocalContext) -> list[Listed]:
    """Machines (with their session, if any) and the other local sessions, by name."""
    sessions.reconcile_now(ctx)
    rows = {r.project: r for r in list_sessions(ctx.conn, ctx.me.user)}
    listed = []
    for machine in all_machines():
        row = rows.pop(machine.name, None)
        status = ("preserved" if machine.status == "preserved"
                  else row.status if row is not None else "stopped")
        listed.append(Listed(name=machine.name, kind="machine", status=status,
                             branch=machine.branch,
                             image=row.image if row else machine.image,
                             created_at=machine.created_at, session=row))
    for row in rows.values():
        listed.append(Listed(name=row.project, kind="session", status=row.status,
                             branch="", image=row.image, created_at=row.created_at,
                             session=row))
    return sorted(listed, key=lambda item: item.name)
