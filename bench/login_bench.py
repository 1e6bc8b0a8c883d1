#!/usr/bin/env python3
"""The login-path benchmark: podspawn's per-connection costs against their floors, side by side.

Run as root from a checkout (dockerd running, the image debian:bookworm present):

    /tmp/devenv/bin/python bench/login_bench.py [--runs 30] [--rounds 5] [--warmup 2]

It installs this checkout with ``install.sh`` into ``/opt/podspawn-e2e-d`` (the e2e harness,
``tests/e2e/harness.py``, with ``PODSPAWN_E2E_ID=d``; set ``PODSPAWN_BENCH_ID`` to use another
id), starts a private sshd on loopback, runs ``server-setup``, adds one podspawn user and one
ordinary host account, and times, in the same run:

1. ``podspawn auth-keys USER TYPE KEY`` (sshd's AuthorizedKeysCommand line) against
   ``/usr/bin/python3 -c pass``, both as root and as ``podspawn-auth`` (hyperfine itself runs
   as that user, so no ``runuser`` is inside the timing);
2. a warm ``ssh USER@127.0.0.1 true`` through podspawn against plain ``ssh`` to the ordinary
   account plus ``docker exec <running container> true`` (``podman exec`` when run with
   ``PODSPAWN_E2E_BACKEND=podman``, which puts the whole bench on Podman);
   a warm ``ssh -F CFG USER@work.pod true`` through the real client (``podspawn setup``,
   ``servers.default podserver``, a temp HOME) against the same floor (target 2.0);
   a project's logins (``add-project`` of a Podfile with ``on_start`` and one companion
   service): warm, and creating the container from the cached image (``podspawn stop
   USER@PROJECT`` untimed before each run);
3. the pieces in between (``sudo -n true``, the forced command run by the user without sshd,
   a warm ``spawn`` without sudo) and ``python -X importtime`` of the two login verbs.

Each round runs every command ``runs / rounds`` times (after ``warmup`` untimed runs), and the
rounds alternate between groups, so that load from other work on the machine falls on the
commands compared alike. Times are whole-process wall times; figures are medians. Everything
created is removed at the end (``--keep`` leaves the installation running to poke at).
Results go to ``bench/results/login-<UTC time>.json``; ``docs/performance.md`` explains them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import pwd
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ["PODSPAWN_E2E_ID"] = os.environ.get("PODSPAWN_BENCH_ID", "d")
sys.path.insert(0, str(REPO))

from tests.e2e import harness  # noqa: E402 - reads PODSPAWN_E2E_ID when imported

RESULTS = REPO / "bench" / "results"
SYS_PYTHON = "/usr/bin/python3"
VENV_PYTHON = str(harness.PREFIX / "venv" / "bin" / "python3")
AUTH_USER = "podspawn-auth"
HEAVY = ("click", "rich", "pydantic", "yaml", "docker", "requests")
TARGET = 1.5
#: the ``.pod`` login runs two ssh handshakes (the outer one to the server, the inner one to
#: the pod's sshd through it), so its target against the same floor is looser
POD_TARGET = 2.0
#: the project timed for its second login: a base image, a start hook and one companion
PROJECT = harness.uname("benchproj")
PODFILE = ("base: debian:bookworm\n"
           "on_start: echo ready\n"
           "services:\n"
           "  - name: side\n"
           "    image: debian:bookworm\n"
           "    command: [sleep, infinity]\n")
#: ENVIRONMENT.md, "Timings seen here" (whole-process medians, loopback), in ms.
#: the engine's own exec, the floor of the hand-off: ``docker exec`` (or ``podman exec`` with
#: PODSPAWN_E2E_BACKEND=podman, which runs the whole bench on Podman)
EXEC_KEY = f"{harness.ENGINE} exec <ctr> true"
DOC_FLOORS = {"python3 -c pass": 90.0, "docker exec <ctr> true": 60.0,
              "ssh plain host account": 220.0}


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def run(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return harness.run(argv, **kwargs)


def as_user(user: str) -> dict[str, object]:
    """subprocess arguments that run a child as ``user`` with its groups, as sshd would."""
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid,
            "extra_groups": os.getgrouplist(user, entry.pw_gid)}


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Job:
    key: str
    argv: list[str]


@dataclass
class Timer:
    """Collects whole-process wall times (seconds) per job key over several rounds."""

    runs: int
    rounds: int
    warmup: int
    use_hyperfine: bool
    times: dict[str, list[float]] = field(default_factory=dict)
    #: user + system CPU seconds of each run (hyperfine gives a mean per batch)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    @property
    def per_round(self) -> int:
        return max(1, math.ceil(self.runs / self.rounds))

    def batch(self, jobs: Sequence[Job], *, user: str | None = None,
              env: dict[str, str] | None = None, unset: Sequence[str] = (),
              prepare: Sequence[str] | None = None) -> None:
        """One round of ``jobs``, run as ``user`` (root if None) with ``env`` added and the
        variables in ``unset`` removed; ``prepare`` runs untimed before every run."""
        full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
        if self.use_hyperfine:
            self._hyperfine(jobs, user, full_env, prepare)
        else:
            self._loop(jobs, user, full_env, prepare)

    def _hyperfine(self, jobs: Sequence[Job], user: str | None, env: dict[str, str],
                   prepare: Sequence[str] | None) -> None:
        out_dir = Path(tempfile.mkdtemp(prefix="podspawn-bench-"))
        try:
            out = out_dir / "hf.json"
            argv = ["hyperfine", "-N", "--style", "none", "--warmup", str(self.warmup),
                    "--runs", str(self.per_round), "--export-json", str(out)]
            if prepare:
                argv += ["--prepare", shlex.join(prepare)]
            for job in jobs:
                argv += ["--command-name", job.key, shlex.join(job.argv)]
            if user:
                entry = pwd.getpwnam(user)
                os.chown(out_dir, entry.pw_uid, entry.pw_gid)
                argv = ["runuser", "-u", user, "--", *argv]
            result = run(argv, env=env, cwd="/")
            if result.returncode != 0:
                raise RuntimeError(f"hyperfine failed:\n{result.stdout}\n{result.stderr}")
            for item in json.loads(out.read_text())["results"]:
                self.times.setdefault(item["command"], []).extend(item["times"])
                self.cpu.setdefault(item["command"], []).extend(
                    [item["user"] + item["system"]] * len(item["times"]))
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)

    def _loop(self, jobs: Sequence[Job], user: str | None, env: dict[str, str],
              prepare: Sequence[str] | None) -> None:
        ids = as_user(user) if user else {}
        for job in jobs:
            for i in range(self.warmup + self.per_round):
                if prepare:
                    prepared = run(prepare, env=env, cwd="/", **ids)
                    if prepared.returncode != 0:
                        raise RuntimeError(f"prepare {prepare}: {prepared.stderr}")
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                result = subprocess.run(job.argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=env, cwd="/", check=False, **ids)
                elapsed = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if result.returncode != 0:
                    raise RuntimeError(f"{job.key}: exit status {result.returncode}")
                if i >= self.warmup:
                    self.times.setdefault(job.key, []).append(elapsed)
                    self.cpu.setdefault(job.key, []).append(
                        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for key, values in self.times.items():
            ms = sorted(v * 1000 for v in values)
            out[key] = {
                "median_ms": round(statistics.median(ms), 1),
                "mean_ms": round(statistics.fmean(ms), 1),
                "stdev_ms": round(statistics.stdev(ms), 1) if len(ms) > 1 else 0.0,
                "min_ms": round(ms[0], 1),
                "p90_ms": round(ms[min(len(ms) - 1, int(0.9 * len(ms)))], 1),
                "cpu_ms": round(statistics.fmean(self.cpu.get(key) or [0.0]) * 1000, 1),
                "n": len(ms),
            }
        return out


# -- import cost -------------------------------------------------------------------------------
def importtime(argv: list[str], env: dict[str, str], repeats: int) -> dict[str, object]:
    """``python -X importtime`` of ``argv``: per-module medians over ``repeats`` runs."""
    cumulative: dict[str, list[int]] = {}
    self_us: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    totals: list[int] = []
    for _ in range(repeats):
        result = run(argv, env={**os.environ, **env}, cwd="/")
        total = 0
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, cum, name = line[len("import time:"):].split("|")
            label = name.rstrip()
            module = label.strip()
            depth[module] = (len(label) - len(module) - 1) // 2
            self_us.setdefault(module, []).append(int(own))
            cumulative.setdefault(module, []).append(int(cum))
            total += int(own)
        totals.append(total)
    cum_ms = {m: statistics.median(v) / 1000 for m, v in cumulative.items()}
    top = sorted(cum_ms.items(), key=lambda item: item[1], reverse=True)[:15]
    top_level = sorted(((m, c) for m, c in cum_ms.items() if depth[m] == 0),
                       key=lambda item: item[1], reverse=True)
    heavy = sorted(m for m in cumulative if m.split(".")[0] in HEAVY)
    return {
        "argv": argv,
        "modules": len(cumulative),
        "total_import_ms": round(statistics.median(totals) / 1000, 1),
        "top_cumulative_ms": [[m, round(c, 1)] for m, c in top],
        "top_level_ms": [[m, round(c, 1)] for m, c in top_level[:10]],
        "podspawn_modules": sorted(m for m in cumulative if m.startswith("podspawn")),
        "heavy_modules_present": heavy,
    }


# -- setup and teardown ------------------------------------------------------------------------
@dataclass
class PodClient:
    """A client machine for ``.pod`` logins, built as tests/e2e/test_pod_client.py builds
    it: a temp HOME, an ssh config passed with -F holding ``Host podserver`` and ``Host *``
    with the identity, then ``podspawn setup`` and ``servers.default podserver``."""

    home: Path
    config: Path
    env: dict[str, str]


@dataclass
class Bench:
    server: harness.Server
    user: str
    plain: str
    container: str
    client_dir: Path
    pod: PodClient
    pod_container: str
    project_repo: Path


def make_plain_account(server: harness.Server, name: str) -> None:
    """An ordinary host account (keys only, ``/bin/sh``) that logs in with its own key."""
    remove_plain_account(name)
    made = run(["useradd", "--create-home", "--password", "*", "--shell", "/bin/sh", name])
    harness.require(made.returncode == 0, made.stderr)
    entry = pwd.getpwnam(name)
    ssh_dir = Path(entry.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(Path(f"{server.key_for(name)}.pub").read_text())
    for path in (ssh_dir, keys):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    keys.chmod(0o600)


def remove_plain_account(name: str) -> None:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(name)
        run(["userdel", "--remove", name])


def session_container(server: harness.Server) -> str:
    listed = run([harness.ENGINE, "ps", "-q", "--no-trunc", "--filter",
                  f"label=podspawn-instance={server.install_id()}"])
    ids = listed.stdout.split()
    harness.require(len(ids) == 1, f"expected one running session container, found {ids}")
    return ids[0]


def pod_client_config(server: harness.Server, key: Path) -> str:
    """tests/e2e/test_pod_client.py's ``podserver_entry``: the user's config before setup."""
    return (
        "Host podserver\n"
        "  HostName 127.0.0.1\n"
        f"  Port {server.port}\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {server.known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
        "\n"
        "Host *\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        "  LogLevel ERROR\n"
    )


def make_pod_client(server: harness.Server, user: str, client_dir: Path) -> PodClient:
    home = client_dir / "podhome"
    home.mkdir(mode=0o700)
    config = home / "ssh_config"
    config.write_text(pod_client_config(server, server.key_for(user)))
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    env["HOME"] = str(home)
    for args in (["setup", "--ssh-config", str(config)],
                 ["config", "set", "servers.default", "podserver"]):
        done = run([str(harness.BIN), *args], env=env)
        harness.require(done.returncode == 0, f"podspawn {args[0]}: {done.stdout}{done.stderr}")
    return PodClient(home=home, config=config, env=env)


def pod_ssh_argv(pod: PodClient, user: str) -> list[str]:
    return ["ssh", "-F", str(pod.config), f"{user}@work.pod", "true"]


def project_ssh_argv(server: harness.Server, user: str) -> list[str]:
    return [*server.ssh_argv(user, opts=("-o", f"SetEnv=PODSPAWN_PROJECT={PROJECT}")), "true"]


def make_project_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "podfile.yaml").write_text(PODFILE)
    git = ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@bench"]
    for argv in (["git", "init", "-q", "-b", "main", str(path)], [*git, "add", "-A"],
                 [*git, "commit", "-qm", "bench project"]):
        done = run(argv)
        harness.require(done.returncode == 0, f"{argv}: {done.stderr}")
    return path


def container_id(name: str) -> str:
    found = run([harness.ENGINE, "inspect", "-f", "{{.Id}}", name])
    harness.require(found.returncode == 0, f"no container {name}: {found.stderr}")
    return found.stdout.strip()


def setup(client_dir: Path) -> Bench:
    harness.ensure_docker()
    log(f"installing this checkout into {harness.PREFIX} with install.sh")
    harness.install()
    log(f"starting a private sshd and running server-setup under {harness.ROOT}")
    server = harness.start_server(client_dir)
    # a grace period longer than the run: each container is used once a round, so the 60 s
    # default could expire between rounds and turn a warm login into a cold one
    text = server.config.read_text()
    harness.require("grace_period: 60s" in text, "the harness config changed: fix the bench")
    server.config.write_text(text.replace("grace_period: 60s", "grace_period: 2h"))
    user = harness.uname("bench")
    plain = harness.uname("benchplain")
    server.add_user(user)
    make_plain_account(server, plain)
    for who in (user, plain):
        first = server.ssh(who, "true", timeout=300)
        harness.require(first.returncode == 0,
                        f"first login of {who} failed: {first.stderr.decode(errors='replace')}")
    container = session_container(server)
    log("building the .pod client (podspawn setup, servers.default) and its first login")
    pod = make_pod_client(server, user, client_dir)
    first_pod = run(pod_ssh_argv(pod, user), env=pod.env, timeout=900)
    harness.require(first_pod.returncode == 0, f"first .pod login failed: {first_pod.stderr}")
    log(f"registering project {PROJECT} (add-project) and its first login")
    repo = make_project_repo(client_dir / "project")
    added = server.podspawn("add-project", PROJECT, "--repo", str(repo))
    harness.require(added.returncode == 0, f"add-project failed: {added.stdout}{added.stderr}")
    first_project = run(project_ssh_argv(server, user), timeout=900)
    harness.require(first_project.returncode == 0,
                    f"first project login failed: {first_project.stderr}")
    return Bench(server=server, user=user, plain=plain, container=container,
                 client_dir=client_dir, pod=pod,
                 pod_container=container_id(f"podspawn-{user}-work"), project_repo=repo)


def sudoers_file(config_path: str) -> Path:
    """server-setup's drop-in for this installation (``services.server_setup.sudoers_name``)."""
    digest = hashlib.sha256(config_path.encode()).hexdigest()[:8]
    return Path("/etc/sudoers.d") / f"podspawn-{digest}"


def remove_project(config: Path) -> None:
    """Forget the bench's project (its containers must be gone by then, since the image
    goes too: remove-project keeps it, and docker refuses to remove an image in use)."""
    if config.exists():
        run([str(harness.BIN), "--config", str(config), "remove-project", PROJECT])
    images = run([harness.ENGINE, "images", "-q", "--filter", f"label=podspawn-project={PROJECT}"])
    if images.stdout.split():
        run([harness.ENGINE, "rmi", "-f", *sorted(set(images.stdout.split()))])


def teardown(plain: str, client_dir: Path) -> None:
    """Remove the users, containers, project, image, sshd, sudoers drop-in and files this
    run created."""
    root = harness.ROOT
    if (root / "sshd_config").exists():
        server = harness.Server(port=0, root=root, config=root / "config.yaml",
                                sshd_config=root / "sshd_config", known_hosts=root / "kh",
                                client_dir=client_dir)
        with contextlib.suppress(Exception):
            harness.stop_server(server)
    remove_project(root / "config.yaml")
    remove_plain_account(plain)
    drop_in = sudoers_file(str(harness.ROOT / "config.yaml"))
    with contextlib.suppress(OSError):
        if str(harness.BIN) in drop_in.read_text():
            drop_in.unlink()
    shutil.rmtree(harness.ROOT, ignore_errors=True)
    shutil.rmtree(harness.PREFIX, ignore_errors=True)
    shutil.rmtree(client_dir, ignore_errors=True)


# -- measurements ------------------------------------------------------------------------------
def cache_is_fresh(config: Path) -> bool:
    """Whether both config snapshots match the config file: the JSON one (the cold path's)
    and the ``key value`` text one the login verbs read (if stale, they load pydantic)."""
    st = config.stat()
    try:
        snapshot = json.loads((config.parent / f".{config.name}.cache.json").read_text())
        lines = (config.parent / f".{config.name}.login").read_text().splitlines()
    except (OSError, ValueError):
        return False
    login = dict(line.partition(" ")[::2] for line in lines)
    return bool(snapshot.get("source") == [st.st_ino, st.st_size, st.st_mtime_ns]
                and login.get("source") == f"{st.st_ino} {st.st_size} {st.st_mtime_ns}")


def auth_keys_per_login(bench: Bench) -> int | None:
    """How often sshd runs auth-keys for one login (strace on the listener); None without strace."""
    if not shutil.which("strace"):
        return None
    trace = bench.client_dir / "execve.trace"
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve", "-o", str(trace),
                               "-p", str(bench.server.sshd_pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        bench.server.ssh(bench.user, "true")
        time.sleep(0.5)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    text = trace.read_text() if trace.exists() else ""
    return sum(1 for line in text.splitlines()
               if "execve(" in line and '"auth-keys"' in line and "ENOENT" not in line)


def measure(bench: Bench, timer: Timer, *, imports_repeats: int) -> dict[str, object]:
    srv = bench.server
    binary, config = str(harness.BIN), str(srv.config)
    key_type, key_b64 = Path(f"{srv.key_for(bench.user)}.pub").read_text().split()[:2]
    base64.b64decode(key_b64)  # a real key, as sshd passes it
    auth_keys = [binary, "--config", config, "auth-keys", bench.user, key_type, key_b64]
    printed = run(auth_keys, cwd="/", **as_user(AUTH_USER))
    harness.require("restrict" in printed.stdout, f"auth-keys printed no key: {printed.stderr}")
    docker = shutil.which(harness.ENGINE, path="/usr/local/bin:/usr/bin:/bin") or harness.ENGINE
    uid = str(pwd.getpwnam(bench.user).pw_uid)
    forced = f"/usr/bin/sudo -n {binary} --config {config} spawn"
    spawn_env = {"SUDO_USER": bench.user, "SUDO_UID": uid, "SSH_ORIGINAL_COMMAND": "true"}
    python_pass = [SYS_PYTHON, "-c", "pass"]

    root_jobs = [
        Job("python3 -c pass", python_pass),
        Job("python3 -I -S -c pass", [SYS_PYTHON, "-I", "-S", "-c", "pass"]),
        Job("venv python3 -c pass", [VENV_PYTHON, "-c", "pass"]),
        Job("auth-keys (root)", auth_keys),
        Job("sudo -n true (root)", ["/usr/bin/sudo", "-n", "true"]),
        Job(EXEC_KEY, [docker, "exec", bench.container, "true"]),
        Job("spawn, warm, no sudo (root)", [binary, "--config", config, "spawn"]),
    ]
    auth_jobs = [
        Job("python3 -c pass (podspawn-auth)", python_pass),
        Job("auth-keys (podspawn-auth)", auth_keys),
    ]
    user_jobs = [Job("forced command: sh -c 'sudo -n podspawn spawn' (user)",
                     ["/bin/sh", "-c", forced])]
    ssh_jobs = [
        Job("ssh plain host account", [*srv.ssh_argv(bench.plain), "true"]),
        Job("ssh podspawn warm", [*srv.ssh_argv(bench.user), "true"]),
        Job("ssh project warm", project_ssh_argv(srv, bench.user)),
    ]
    pod_jobs = [Job("ssh .pod warm (work.pod)", pod_ssh_argv(bench.pod, bench.user))]
    cold_jobs = [Job("ssh project, new container from cached image",
                     project_ssh_argv(srv, bench.user))]
    stop_project = [binary, "--config", config, "stop", f"{bench.user}@{PROJECT}"]
    project_name = f"podspawn-{bench.user}-{PROJECT}"
    project_ctr = container_id(project_name)

    container_before = bench.container
    load_before = os.getloadavg()
    # Each round's warm project logins reuse the container that the previous round's last
    # cold login (or setup's first login) left running; each cold login is preceded by
    # ``podspawn stop USER@PROJECT``, which removes the container, its service and network.
    for number in range(timer.rounds):
        log(f"round {number + 1}/{timer.rounds}")
        timer.batch(ssh_jobs)
        timer.batch(pod_jobs, env=bench.pod.env, unset=("SSH_AUTH_SOCK", "SSH_AGENT_PID"))
        timer.batch(root_jobs, env=spawn_env)
        timer.batch(cold_jobs, prepare=stop_project)
        timer.batch(auth_jobs, user=AUTH_USER)
        timer.batch(user_jobs, user=bench.user, env={"SSH_ORIGINAL_COMMAND": "true"})
    load_after = os.getloadavg()
    reused = (container_id(f"podspawn-{bench.user}") == container_before
              and container_id(f"podspawn-{bench.user}-work") == bench.pod_container)
    # every cold run made a new project container (and the warm runs reused the last one)
    project_recreated = container_id(project_name) != project_ctr
    services = run([harness.ENGINE, "ps", "--format", "{{.Names}}",
                    "--filter", f"name={project_name}"]).stdout.split()

    log("python -X importtime, auth-keys and spawn")
    # "-m podspawn" adds runpy (and importlib.util, contextlib) that the installed launcher,
    # which sshd runs, does not import: both are reported
    module = [VENV_PYTHON, "-X", "importtime", "-m", "podspawn", "--config", config]
    launcher = [VENV_PYTHON, "-X", "importtime", binary, "--config", config]
    imports = {
        "auth-keys (python -m podspawn)": importtime([*module, "auth-keys", "nobody"], {},
                                                     imports_repeats),
        "auth-keys (installed launcher)": importtime([*launcher, "auth-keys", "nobody"], {},
                                                     imports_repeats),
        "spawn, warm (python -m podspawn)": importtime([*module, "spawn"], spawn_env,
                                                       imports_repeats),
        "spawn, warm (installed launcher)": importtime([*launcher, "spawn"], spawn_env,
                                                       imports_repeats),
    }
    return {
        "timings": timer.summary(),
        "importtime": imports,
        "auth_keys_per_login": auth_keys_per_login(bench),
        "container_reused_throughout": reused,
        "project_container_recreated": project_recreated,
        "project_containers_running": sorted(services),
        "config_cache_fresh": cache_is_fresh(srv.config),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "engine_cli": docker,
    }


def _ratios(t: dict[str, float]) -> dict[str, float]:
    floor = t["ssh plain host account"] + t[EXEC_KEY]
    return {
        "auth_keys_ratio_root": round(t["auth-keys (root)"] / t["python3 -c pass"], 2),
        "auth_keys_ratio_podspawn_auth": round(
            t["auth-keys (podspawn-auth)"] / t["python3 -c pass (podspawn-auth)"], 2),
        "login_floor_ms": round(floor, 1),
        "login_ratio": round(t["ssh podspawn warm"] / floor, 2),
        "pod_login_ratio": round(t["ssh .pod warm (work.pod)"] / floor, 2),
        "project_warm_ratio": round(t["ssh project warm"] / floor, 2),
        "project_cold_ms": t["ssh project, new container from cached image"],
    }


def analyse(data: dict[str, object]) -> dict[str, object]:
    """Ratios from the medians (the figures that count), from the minimums (what the same
    commands cost without contention from other work), and against ENVIRONMENT.md's floors;
    then the extra time of a podspawn login split into the pieces measured on their own."""
    timings = data["timings"]
    t = {k: v["median_ms"] for k, v in timings.items()}
    best = {k: v["min_ms"] for k, v in timings.items()}
    doc_floor = DOC_FLOORS["ssh plain host account"] + DOC_FLOORS["docker exec <ctr> true"]
    per_login = data["auth_keys_per_login"] or 2
    extra = t["ssh podspawn warm"] - t["ssh plain host account"]
    pieces = {
        f"auth-keys x{per_login} (as podspawn-auth)": per_login * t["auth-keys (podspawn-auth)"],
        "sh + sudo as the user (forced command minus warm spawn)":
            t["forced command: sh -c 'sudo -n podspawn spawn' (user)"]
            - t["spawn, warm, no sudo (root)"],
        f"spawn's own process (warm spawn minus {harness.ENGINE} exec)":
            t["spawn, warm, no sudo (root)"] - t[EXEC_KEY],
        f"{harness.ENGINE} exec": t[EXEC_KEY],
    }
    return {
        **_ratios(t),
        "target": TARGET,
        "pod_target": POD_TARGET,
        "from_minimums": _ratios(best),
        "auth_keys_vs_doc_floor": round(
            t["auth-keys (podspawn-auth)"] / DOC_FLOORS["python3 -c pass"], 2),
        "login_vs_doc_floor": round(t["ssh podspawn warm"] / doc_floor, 2),
        "breakdown_ms": {
            "podspawn login minus plain ssh": round(extra, 1),
            **{k: round(v, 1) for k, v in pieces.items()},
            "rest (sshd session differences, sh, noise)": round(extra - sum(pieces.values()), 1),
        },
    }


def report(result: dict[str, object]) -> None:
    print()
    print(f"{'command (ms)':58} {'median':>8} {'min':>7} {'p90':>7} {'cpu':>6}  n")
    for key, s in result["timings"].items():
        print(f"{key:58} {s['median_ms']:8.1f} {s['min_ms']:7.1f} {s['p90_ms']:7.1f} "
              f"{s['cpu_ms']:6.1f}  {s['n']}")
    ratios = result["ratios"]
    print()
    for key, value in ratios.items():
        if key != "breakdown_ms":
            print(f"{key:32} {value}")
    for key, target in (("auth_keys_ratio_podspawn_auth", TARGET), ("login_ratio", TARGET),
                        ("pod_login_ratio", POD_TARGET)):
        verdict = "meets" if ratios[key] <= target else "MISSES"
        print(f"{key} {ratios[key]} {verdict} the target <= {target}")
    cold = ratios["project_cold_ms"]
    print(f"project second login (new container from cached image) {cold} ms: "
          f"{'under' if cold < 1000 else 'NOT under'} a second")
    print("breakdown (ms):")
    for key, value in ratios["breakdown_ms"].items():
        print(f"  {key:62} {value}")
    for verb, info in result["importtime"].items():
        print(f"\nimporttime {verb}: {info['modules']} modules, {info['total_import_ms']} ms; "
              f"heavy present: {info['heavy_modules_present'] or 'none'}")
        for module, ms in info["top_cumulative_ms"][:10]:
            print(f"  {ms:7.1f}  {module}")
    print(f"\nauth-keys runs per login: {result['auth_keys_per_login']}; "
          f"container reused: {result['container_reused_throughout']}; "
          f"project container recreated: {result['project_container_recreated']}; "
          f"config cache fresh: {result['config_cache_fresh']}; "
          f"load {result['loadavg_before']} -> {result['loadavg_after']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="timed runs per command (30)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds the runs are split into, alternating commands (5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per round (2)")
    parser.add_argument("--imports-repeats", type=int, default=5,
                        help="python -X importtime runs per verb (5)")
    parser.add_argument("--timer", choices=("auto", "hyperfine", "python"), default="auto")
    parser.add_argument("--keep", action="store_true",
                        help="leave the installation, sshd, users and container in place")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run it as root: it installs podspawn, starts sshd and adds accounts")
    use_hyperfine = args.timer == "hyperfine" or (
        args.timer == "auto" and shutil.which("hyperfine") is not None)
    timer = Timer(runs=args.runs, rounds=args.rounds, warmup=args.warmup,
                  use_hyperfine=use_hyperfine)
    client_dir = Path(tempfile.mkdtemp(prefix="podspawn-bench-client-"))
    bench: Bench | None = None
    plain = harness.uname("benchplain")
    try:
        bench = setup(client_dir)
        log(f"timing with {'hyperfine' if use_hyperfine else 'a Python loop'}: {args.runs} runs "
            f"per command in {args.rounds} rounds, {args.warmup} warmups per round")
        data = measure(bench, timer, imports_repeats=args.imports_repeats)
        commit = run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = bool(run(["git", "-C", str(REPO), "status", "--porcelain", "src",
                          "install.sh"]).stdout.strip())
        result = {
            "meta": {
                "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "host": platform.node(), "cpus": os.cpu_count(),
                "kernel": platform.release(), "commit": commit, "src_modified": dirty,
                "timer": "hyperfine" if use_hyperfine else "python",
                "runs": args.runs, "rounds": args.rounds, "warmup": args.warmup,
                "python": SYS_PYTHON, "install_prefix": str(harness.PREFIX),
                "backend": harness.BACKEND,
            },
            **data,
            "doc_floors_ms": DOC_FLOORS,
        }
        result["ratios"] = analyse(result)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"login-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        report(result)
        print(f"\nresults: {out}")
        heavy = {verb: info["heavy_modules_present"]
                 for verb, info in result["importtime"].items() if info["heavy_modules_present"]}
        if heavy:
            print(f"FAILED: the login path imports {heavy}", file=sys.stderr)
            return 1
    finally:
        if args.keep and bench is not None:
            log(f"kept: ssh -p {bench.server.port} -i {client_dir}/id_{bench.user} "
                f"{bench.user}@127.0.0.1 (sshd pid {bench.server.sshd_pid})")
        else:
            log("cleaning up")
            teardown(plain, client_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
