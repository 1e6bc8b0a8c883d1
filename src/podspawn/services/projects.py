"""Projects: a repository with a Podfile, checked out on the server and built into an image.

``add-project`` clones the repository, resolves its Podfile (``extends`` fetched and merged,
the admin's ceilings checked), pulls its service images, builds the image, stores the
resolved Podfile (:mod:`podspawn.services.project_store`) and records the project in the
``projects`` section of the server config. The image is named by the hash of the resolved
Podfile (``podspawn/<project>:podfile-<hash>``), and a rebuild happens only when that
changes. ``update-project`` does the same again. A login only reads what they stored
(:func:`project_image`): the repository is untrusted input, so nothing it names is fetched
or built at login time (DESIGN-NOTES invariant 6). Both hold the project's build lock, so
one project has one build at a time, run under the ``images.build_*`` limits.

The image holds, on top of the Podfile's recipe: podspawn's layer (sudo, sshd, sftp-server,
rsync), a uid-1000 build user (renamed to the login name in each container), the checkout at
the workspace path, and the result of ``on_create``, which therefore runs once per build,
never per login. Each user's workspace is a named volume that Docker seeds from the image on
first use, so their edits outlive the container.

Credentials in a ``--repo`` URL never reach the config, the checkout, the image or a message:
see ``podspawn.services.repo_auth``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podspawn import labels, log
from podspawn.config.schema import ServerConfig
from podspawn.errors import (
    BuildLimitReached,
    Conflict,
    ImageUnavailable,
    PodspawnError,
    ProjectNotFound,
    RuntimeFailure,
    UsageError,
)
from podspawn.locks import file_lock, lock_path
from podspawn.names import validate_project
from podspawn.runtime.base import ImageRecipe, Runtime
from podspawn.services import repo_auth
from podspawn.services.images import (
    LAYER_SCRIPT,
    build_limits,
    ensure_base,
    limit_key,
    timed_build,
)
from podspawn.services.project_store import (
    checkout_dir,
    load_resolved,
    projects_root,
    prune_resolved,
    store_resolved,
    stored_hashes,
)

if TYPE_CHECKING:
    from podspawn.podfile import LoadedPodfile, Podfile, RecipeSettings

Progress = Callable[[str], None]
_GIT_URL = re.compile(r"^(https?://|ssh://|git@|file://|/)[^\s]+$")


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    name: str
    repo: str
    """The URL without credentials: safe to show."""
    branch: str
    image_tag: str
    podfile_hash: str
    legacy_credentials: bool = False
    """The config still holds credentials in the URL (registered by an older release);
    ``update-project`` moves them out."""


def get_project(config: ServerConfig, name: str) -> ProjectInfo:
    """The registered project ``name``.

    Raises:
        ProjectNotFound: no project of that name is registered.
    """
    entry = config.projects.get(name)
    if entry is None:
        raise ProjectNotFound(
            f"no project named {name}; 'podspawn list-projects' shows the registered ones"
        )
    return get_project_from(entry, name)


def list_projects(config: ServerConfig) -> list[ProjectInfo]:
    return [get_project(config, name) for name in sorted(config.projects)]


# -- image ------------------------------------------------------------------------------


def recipe_settings(config: ServerConfig) -> RecipeSettings:
    from podspawn.podfile import RecipeSettings

    images = config.images
    return RecipeSettings(node_dist_url=images.node_dist_url, go_dist_url=images.go_dist_url,
                          rustup_url=images.rustup_url, python_ppa=images.python_ppa)


def _load(config: ServerConfig, directory: str) -> LoadedPodfile:
    """A project's Podfile, resolved with the admin's extends URL and bind-mount policy."""
    from podspawn.podfile import http_fetcher, load_podfile

    return load_podfile(directory, fetch=http_fetcher(),
                        remote_base_url=config.images.podfiles_url,
                        allowed_bind_roots=config.security.allowed_bind_roots,
                        session_cap_add=config.security.cap_add,
                        service_cap_add=config.security.service_cap_add)


def _resolve(config: ServerConfig, checkout: str, project: str) -> LoadedPodfile:
    """The checkout's Podfile, resolved and within the admin's ceilings (add/update-project).

    Raises:
        PodfileError: invalid, a remote base cannot be fetched, or a request is too large.
    """
    from podspawn.services.companions import check_binds
    from podspawn.services.dev_storage import check_caps, check_session_binds
    from podspawn.services.limits import check_requests
    from podspawn.services.overrides import podfile_mode_allowed

    loaded = _load(config, checkout)
    if loaded.origin == "devcontainer":
        from podspawn.services.features import apply_features

        loaded = apply_features(config, checkout, loaded)
    for warning in loaded.warnings:
        log.warning(warning, project=project)
    check_requests(config, loaded.podfile)
    check_binds(loaded.podfile.services, config.security.allowed_bind_roots)
    check_session_binds(loaded.podfile, config.security.allowed_bind_roots)
    check_caps(config, loaded.podfile)
    mode = loaded.podfile.mode
    if mode and not podfile_mode_allowed(config, mode):
        log.warning("the Podfile asks for a session mode this server does not let a Podfile "
                    "choose (session.podfile_modes); its sessions use the next setting",
                    project=project, mode=mode)
    return loaded


class _BuildProgress:
    """Turns the builder's ``Step N/M : ...`` lines into the tutorial's progress lines."""

    def __init__(self, podfile: Podfile, progress: Progress | None) -> None:
        from podspawn.podfile.recipe import ON_CREATE_FILE

        self.on_create_file = ON_CREATE_FILE
        self.podfile = podfile
        self.progress = progress
        self.phase = ""

    def __call__(self, line: str) -> None:
        if not line.startswith("Step ") or self.progress is None:
            return
        instruction = line.split(" : ", 1)[-1]
        phase = ""
        if instruction.startswith("FROM "):
            phase = f"  Pulling base image {self.podfile.base}..."
        elif self.podfile.packages and instruction.startswith("RUN") and (
            "apt-get install" in instruction or "install" in instruction.lower()
        ) and "podspawn" not in instruction:
            phase = "  Installing packages: " + " ".join(self.podfile.packages) + "..."
        elif self.on_create_file in instruction and instruction.startswith("RUN"):
            first = (self.podfile.on_create or "").strip().splitlines()[0][:60]
            phase = f"  Running on_create: {first}..."
        if phase and phase != self.phase:
            self.finish()
            self.phase = phase
            self.progress(phase)

    def finish(self) -> None:
        if self.phase and self.progress is not None:
            self.progress(f"{self.phase} done")
        self.phase = ""


def build_project_image(
    *,
    runtime: Runtime,
    config: ServerConfig,
    project: str,
    loaded: LoadedPodfile,
    checkout: str,
    progress: Progress | None = None,
    replace: bool = False,
) -> str:
    """Build (unless present) and return the image tag for ``loaded``.

    ``replace`` builds even when the tag exists (its image holds something it must not).

    The caller holds the project's build lock (:func:`project_lock`), so one project builds
    one image at a time; the build runs under :func:`build_limits`.

    Raises:
        ImageUnavailable: the base image is missing and cannot be pulled.
        RuntimeFailure: a build step failed (the message has the step and its last lines).
        BuildLimitReached: a step needed more memory or processes than a build may use.
    """
    tag = loaded.image_tag(project)
    if runtime.image_id(tag) and not replace:
        return tag
    podfile = loaded.podfile
    if progress:
        progress(f"Building environment from {loaded.sources[0]} "
                 "(first time, this takes a minute)...")
    base = loaded.features.base if loaded.features is not None else podfile.base
    try:
        if loaded.build is not None:
            from podspawn.services.base_builds import ensure_built_base

            ensure_built_base(runtime, project=project, spec=loaded.build, checkout=checkout,
                              tag=base, limits=build_limits(config, project),
                              on_output=_base_progress(progress))
        else:
            ensure_base(runtime, base)
        if loaded.features is not None:
            from podspawn.services.features import ensure_featured_base

            ensure_featured_base(runtime, project=project, plan=loaded.features,
                                 limits=build_limits(config, project),
                                 on_output=_base_progress(progress))
    except BuildLimitReached as exc:
        raise _limit_message(config, project, exc) from exc
    from podspawn.podfile.recipe import LAYER_FILE, ON_CREATE_FILE, project_dockerfile

    files = {LAYER_FILE: LAYER_SCRIPT.encode()}
    if podfile.on_create:
        files[ON_CREATE_FILE] = podfile.on_create.encode()
    reporter = _BuildProgress(podfile, progress)
    with tempfile.TemporaryDirectory(prefix="podspawn-ctx-") as tmp:
        workspace = os.path.join(tmp, "workspace")
        shutil.copytree(checkout, workspace, symlinks=True)
        log.info("building project image", project=project, tag=tag)
        try:
            timed_build(runtime, ImageRecipe(
                tag=tag,
                dockerfile=project_dockerfile(podfile, project, recipe_settings(config)),
                labels=labels.for_image(project=project),
                files=files,
                context_dirs={"workspace": workspace},
                limits=build_limits(config, project),
            ), kind="project", db_path=config.state.db_path, on_output=reporter)
        except BuildLimitReached as exc:
            raise _limit_message(config, project, exc) from exc
        except RuntimeFailure as exc:
            if ON_CREATE_FILE not in exc.message:
                raise
            raise RuntimeFailure(
                f"on_create of project {project} failed; fix the Podfile's on_create. "
                f"Its last output:\n{_output(exc)}",
                detail=exc.detail,
            ) from exc
    reporter.finish()
    return tag


def _base_progress(progress: Progress | None) -> Progress | None:
    """The steps of a devcontainer's own Dockerfile, shown as they run."""
    if progress is None:
        return None
    report = progress
    return lambda line: report(f"  {line}") if line.startswith("Step ") else None


def _limit_message(config: ServerConfig, project: str, exc: BuildLimitReached
                   ) -> BuildLimitReached:
    """The runtime's report, in the admin's terms: which key limits what."""
    what, key, value = limit_key(config, exc.limit)
    step = exc.step.split(" : ", 1)[-1][:120] or "its first step"
    return BuildLimitReached(
        f"the image build of project {project} was stopped at {step}: it needed more {what} "
        f"than a build may use ({key}: {value}); make that step use less, or raise {key}. "
        f"Its last output:\n{_output(exc)}",
        limit=exc.limit, step=exc.step, detail=exc.detail,
    )


def _output(exc: PodspawnError) -> str:
    """The build output lines a runtime failure carries after its first line."""
    return exc.message.split("\n", 1)[1] if "\n" in exc.message else ""


@contextmanager
def project_lock(config: ServerConfig, project: str) -> Iterator[None]:
    """Held by add-project and update-project: one clone, build and registration of a
    project at a time (``locks.lock_path(lock_dir, "build", project)``)."""
    with file_lock(lock_path(config.state.lock_dir, "build", project), timeout=3600):
        yield


# -- registry ---------------------------------------------------------------------------


def _clone(repo: str, branch: str, target: str, *, userinfo: str = "") -> None:
    """Clone ``repo`` (a URL without credentials) at ``branch`` into ``target``.

    ``userinfo`` reaches git through its environment only (root-only in ``/proc``), so the
    checkout's ``.git/config`` records the clean URL.
    """
    if not _GIT_URL.match(repo) and not os.path.isdir(repo):
        raise UsageError(
            f"--repo {repo_auth.redact(repo)[:80]!r} is not a git URL (https://, ssh://, "
            "git@, file://) or a local directory"
        )
    if branch.startswith("-"):
        raise UsageError("--branch must not start with '-'")
    argv = ["git", "clone", "--quiet", "--depth", "1"]
    if branch:
        argv += ["--branch", branch]
    source = f"file://{os.path.abspath(repo)}" if os.path.isdir(repo) else repo
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **repo_auth.git_env(source, userinfo)}
    result = subprocess.run([*argv, "--", source, target], capture_output=True, text=True,
                            check=False, env=env)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UsageError(repo_auth.redact(f"cloning {repo} failed: {last}"))


def _split_repo(repo: str, credentials: str) -> tuple[str, str]:
    """(clean URL, userinfo) from ``--repo`` and credentials given apart from it."""
    clean, userinfo = repo_auth.split_credentials(repo)
    if credentials and userinfo:
        raise UsageError("give the repository's credentials either in the --repo URL or in "
                         "PODSPAWN_REPO_CREDENTIALS, not both")
    if credentials and not clean.lower().startswith(("http://", "https://")):
        raise UsageError("PODSPAWN_REPO_CREDENTIALS works with http(s) URLs only; use an SSH "
                         "key for ssh:// and git@ URLs")
    return clean, userinfo or credentials


def _keep_credentials(config: ServerConfig, name: str, userinfo: str) -> None:
    if userinfo:
        repo_auth.store_credentials(config, name, userinfo)
    else:
        repo_auth.forget_credentials(config, name)


def add_project(
    *,
    runtime: Runtime,
    config: ServerConfig,
    config_path: str,
    name: str,
    repo: str,
    branch: str = "",
    credentials: str = "",
    progress: Progress | None = None,
) -> ProjectInfo:
    """Clone, resolve the Podfile, pull the service images, build the image, store the
    resolved Podfile and register the project.

    Credentials, in ``repo``'s userinfo or as ``credentials`` (``user:token``), are stored
    apart from the config (``repo_auth``). Nothing is left behind on failure: the clone, the
    stored Podfile and the credentials are removed and the config is unchanged.

    Raises:
        InvalidName, Conflict: a bad or already registered name.
        UsageError: the clone failed. PodfileError: the Podfile is invalid, a remote base
            cannot be fetched, it asks for more than the ceilings, or a service's host path
            is refused (``services.binds``).
        ImageUnavailable: a base or service image cannot be pulled.
        RuntimeFailure, BuildLimitReached: the image build failed.
    """
    from podspawn.services.config_edit import update_config

    validate_project(name)
    if name in config.projects:
        raise Conflict(f"project {name} is already registered; use update-project")
    repo, userinfo = _split_repo(repo, credentials)
    with project_lock(config, name):
        os.makedirs(projects_root(config), mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{name}.", dir=projects_root(config))
        try:
            clone = os.path.join(staging, "repo")
            _clone(repo, branch, clone, userinfo=userinfo)
            loaded, tag = _prepare(runtime, config, name, clone, progress)
            entry: dict[str, Any] = {"repo": repo, "image_tag": tag,
                                     "podfile_hash": loaded.content_hash}
            if branch:
                entry["branch"] = branch

            def register(data: dict[str, Any]) -> None:
                projects = data.setdefault("projects", {})
                if name in projects:
                    raise Conflict(f"project {name} is already registered; use update-project")
                projects[name] = entry

            prune_resolved(config, name)  # left by an earlier project of this name
            store_resolved(config, name, loaded, loaded.content_hash)
            try:
                _keep_credentials(config, name, userinfo)
                update_config(config_path, register)
            except BaseException:
                prune_resolved(config, name)
                repo_auth.forget_credentials(config, name)
                raise
            _replace_checkout(config, name, clone)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("project registered", project=name, image=tag, credentials=bool(userinfo))
    return get_project_from(entry, name)


def get_project_from(entry: dict[str, Any], name: str) -> ProjectInfo:
    repo, legacy = repo_auth.split_credentials(str(entry.get("repo", "")))
    return ProjectInfo(name=name, repo=repo, branch=str(entry.get("branch", "")),
                       image_tag=str(entry.get("image_tag", "")),
                       podfile_hash=str(entry.get("podfile_hash", "")),
                       legacy_credentials=bool(legacy))


def update_project(
    *,
    runtime: Runtime,
    config: ServerConfig,
    config_path: str,
    name: str,
    progress: Progress | None = None,
) -> tuple[ProjectInfo, bool]:
    """Fetch the repository and resolve its Podfile again (remote bases included); rebuild
    when the resolved Podfile changed or the image is gone. Returns (info, rebuilt).

    The stored credentials are used. A project registered by an older release with
    credentials in its config URL is migrated: they move to the credentials store, the config
    keeps the clean URL, and the image is rebuilt from a checkout that no longer records them.

    Raises:
        ProjectNotFound: no such project. UsageError: the fetch failed.
        PodfileError, ImageUnavailable, RuntimeFailure, BuildLimitReached: as add-project;
            the project keeps its previous image, stored Podfile and checkout then.
    """
    from podspawn.services.config_edit import update_config

    current = get_project(config, name)
    legacy = repo_auth.split_credentials(str(config.projects[name].get("repo", "")))[1]
    userinfo = legacy or repo_auth.load_credentials(config, name)
    old_image = runtime.image_id(current.image_tag) if legacy and current.image_tag else None
    with project_lock(config, name):
        os.makedirs(projects_root(config), mode=0o700, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{name}.", dir=projects_root(config))
        try:
            clone = os.path.join(staging, "repo")
            _clone(current.repo, current.branch, clone, userinfo=userinfo)
            had_image = runtime.image_id(current.image_tag) is not None
            loaded, tag = _prepare(runtime, config, name, clone, progress,
                                   replace=bool(legacy))
            new_hash = loaded.content_hash
            rebuilt = bool(legacy) or tag != current.image_tag or not had_image

            def record(data: dict[str, Any]) -> None:
                projects = data.get("projects") or {}
                if name not in projects:
                    raise ProjectNotFound(f"project {name} was removed meanwhile; nothing "
                                          "was updated")
                # keeps the admin's keys (mode...); the URL without credentials
                projects[name] = {**projects[name], "repo": current.repo, "image_tag": tag,
                                  "podfile_hash": new_hash}

            known = stored_hashes(config, name)
            store_resolved(config, name, loaded, new_hash)
            try:
                if legacy:
                    repo_auth.store_credentials(config, name, legacy)
                entry = update_config(config_path, record).projects[name]
            except BaseException:
                prune_resolved(config, name, keep=known)  # drops only what this run stored
                raise
            _replace_checkout(config, name, clone)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # the previous file stays for a login that read the config just before this update
        prune_resolved(config, name, keep={new_hash, current.podfile_hash})
    if legacy:
        _report_migration(runtime, current, tag, old_image, progress)
    return get_project_from(entry, name), rebuilt


def _report_migration(
    runtime: Runtime, info: ProjectInfo, tag: str, old_image: str | None,
    progress: Progress | None,
) -> None:
    """Say that the credentials left the config, and what may still hold them."""
    log.info("moved repository credentials out of the config", project=info.name)
    if progress is None:
        return
    progress(f"  moved the credentials of project {info.name} from the config into a "
             "root-only file; the new checkout and image no longer contain them")
    if old_image and old_image != runtime.image_id(tag):
        progress(f"  the previous image still does: remove it with docker rmi {old_image}")
    progress("  workspaces seeded from an older image keep the old URL in .git/config; "
             f"'git remote set-url origin {info.repo}' there fixes one")


def _prepare(runtime: Runtime, config: ServerConfig, name: str, clone: str,
             progress: Progress | None, *, replace: bool = False) -> tuple[LoadedPodfile, str]:
    """Everything that can fail on the repository's account, before anything is recorded:
    the resolved Podfile, its service images present, and its image built."""
    from podspawn.services.companions import pull_service_images

    loaded = _resolve(config, clone, name)
    _warn_host_requirements(config, loaded.podfile, name, progress)
    pull_service_images(runtime, loaded.podfile.services, progress=progress)
    tag = build_project_image(runtime=runtime, config=config, project=name, loaded=loaded,
                              checkout=clone, progress=progress, replace=replace)
    return loaded, tag


def _warn_host_requirements(config: ServerConfig, podfile: Podfile, name: str,
                            progress: Progress | None) -> None:
    from podspawn.services.host_requirements import unmet

    where = os.path.dirname(config.state.db_path)
    for problem in unmet(podfile.host_requirements, storage_path=where):
        log.warning("the host does not meet a project's requirements", project=name,
                    problem=problem)
        if progress is not None:
            progress(f"  warning: {problem} (hostRequirements)")


def _replace_checkout(config: ServerConfig, name: str, clone: str) -> None:
    """The new clone in place of the old one, once the config names the new Podfile; only
    the next build reads it."""
    target = checkout_dir(config, name)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(clone, target)


def remove_project(*, config: ServerConfig, config_path: str, name: str) -> ProjectInfo:
    """Forget the project and delete its checkout and stored Podfiles; the image stays
    (``docker rmi`` frees it).

    Raises:
        ProjectNotFound: no such project.
    """
    from podspawn.services.config_edit import update_config

    info = get_project(config, name)

    def forget(data: dict[str, Any]) -> None:
        data.get("projects", {}).pop(name, None)
        if not data.get("projects"):
            data.pop("projects", None)

    update_config(config_path, forget)
    shutil.rmtree(checkout_dir(config, name), ignore_errors=True)
    prune_resolved(config, name)
    repo_auth.forget_credentials(config, name)
    log.info("project removed", project=name)
    return info


def project_image(*, runtime: Runtime, config: ServerConfig, project: str
                  ) -> tuple[str, LoadedPodfile]:
    """The image and the stored Podfile for a login to a registered project.

    Nothing is fetched, parsed from the checkout or built here (DESIGN-NOTES invariant 6):
    what is missing is the admin's to fix with ``update-project``.

    Raises:
        ProjectNotFound: no such project.
        ImageUnavailable: the project's image is gone.
        StateError, PodfileError: its stored Podfile is unusable (see ``project_store``).
    """
    info = get_project(config, project)
    if not runtime.image_id(info.image_tag):
        log.error("project image missing at login", project=project, image=info.image_tag,
                  fix=f"podspawn update-project {project}")
        raise ImageUnavailable(
            f"the environment image of project {project} is missing on this server; an "
            f"administrator must run: podspawn update-project {project}"
        )
    return info.image_tag, load_resolved(config, project, info.podfile_hash)
