#!/usr/bin/env python3
"""The scale benchmark: how podspawn's costs grow with users and sessions, against floors.

Run as root from a checkout (dockerd running, the image debian:bookworm present):

    .venv/bin/python bench/scale_bench.py [--users 50] [--projects 10] [--steps 100,250,500]

It installs this checkout with the e2e harness under ``PODSPAWN_E2E_ID=s`` (set
``PODSPAWN_BENCH_ID`` for another id), starts a private sshd, registers ``--projects``
projects (a base image, no companions, so sessions are cheap and the count is what grows)
and measures, in the same run:

1. floors: plain ``ssh`` to an ordinary host account, and ``docker run --rm IMAGE true``;
2. a single cold login (a new user's first ``ssh USER@host true``: user set-up, container and
   network from the cached image), the median of ``--cold`` users one after another;
3. ``--users`` new users' first logins started at the same moment: p50, p95, max, failures,
   and p95 against the single cold login (target 3.0);
4. ``--warm`` warm logins at once, spread over those users: p50, p95, failures, and how
   often "database is locked" appeared on a client or in the operator log (target 0);
   both crowds again without podspawn (plain ``ssh`` then ``docker run`` or ``docker exec``,
   as many at once), since on a small machine a crowd is bound by CPU whoever serves it;
5. with a warm pool (``defaults.warm``): ``--cold`` new users' first logins one after
   another, each claiming a warm container, against the same user's warm login (target
   1.3), then ``--pool`` new users' first logins at once against a pool of as many: p50,
   p95, max, how many claimed, and p95 against the single cold login (target 3.0);
6. for each session count in ``--steps`` (users x projects sessions, made by real logins):
   ``podspawn list --json`` and one ``podspawn cleanup`` pass (targets 1 s and 5 s), beside
   ``docker ps -aq`` at the same count, and host memory taken per idle session
   (``MemAvailable`` before the first session against after each step).

Everything created is removed at the end. Results go to ``bench/results/scale-<UTC>.json``;
``docs/performance.md`` explains them. These are benchmarks, not tests: nothing here fails a
build, except a setup step that cannot run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("PODSPAWN_BENCH_ID", "s")
sys.path.insert(0, str(REPO))

from bench.login_bench import log, make_plain_account, remove_plain_account  # noqa: E402
from tests.e2e import harness  # noqa: E402 - reads PODSPAWN_E2E_ID when imported

RESULTS = REPO / "bench" / "results"
PODFILE = "base: debian:bookworm\n"
TARGETS = {"first_logins_p95_vs_cold": 3.0, "list_s": 1.0, "cleanup_s": 5.0,
           "database_locked": 0, "claim_vs_warm_login": 1.3, "pool_crowd_p95_vs_cold": 3.0}
LOCKED = "database is locked"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 50 values is the 48th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def timed(argv: Sequence[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = harness.run(argv, **kwargs)
    return time.perf_counter() - start, done


def median_of(repeats: int, action: Callable[[], float]) -> float:
    return statistics.median(action() for _ in range(repeats))


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


class Scale:
    """One installation, its users and projects, and the measurements over them."""

    def __init__(self, client_dir: Path, *, users: int, projects: int) -> None:
        self.client_dir = client_dir
        self.server = harness.start_server(client_dir)
        self.server.set_config({"session": {"grace_period": "3h", "max_lifetime": "8h"},
                                "resources": {"max_per_user": 0}})
        self.users = [harness.uname(f"sc{i:03d}") for i in range(users)]
        self.projects = [harness.uname(f"scp{i:02d}") for i in range(projects)]
        self.extra: list[str] = []
        self.plain = harness.uname("scplain")

    # -- set-up ---------------------------------------------------------------------------
    def register(self) -> None:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.server.add_user, self.users))
        make_plain_account(self.server, self.plain)
        for project in self.projects:
            repo = self.client_dir / f"repo-{project}"
            repo.mkdir()
            (repo / "podfile.yaml").write_text(PODFILE)
            git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
            harness.run(["git", "init", "-q", "-b", "main", str(repo)])
            harness.run([*git, "add", "-A"])
            harness.run([*git, "commit", "-qm", "podfile"])
            added = self.server.podspawn("add-project", project, "--repo", str(repo))
            harness.require(added.returncode == 0, f"add-project: {added.stderr}")

    def login(self, user: str, project: str = "") -> tuple[float, int, str]:
        opts = ("-o", f"SetEnv=PODSPAWN_PROJECT={project}") if project else ()
        argv = [*self.server.ssh_argv(user, opts=opts), "true"]
        seconds, done = timed(argv, timeout=900)
        return seconds, done.returncode, done.stderr

    # -- measurements ---------------------------------------------------------------------
    def floors(self) -> dict[str, float]:
        plain = [*self.server.ssh_argv(self.plain), "true"]
        timed(plain)  # the first one pays for the host key cache and the account's home
        return {
            "ssh_plain_s": median_of(5, lambda: timed(plain)[0]),
            "docker_run_s": median_of(5, lambda: timed(
                ["docker", "run", "--rm", "--network", "none", harness.IMAGE, "true"])[0]),
        }

    def single_cold(self, count: int) -> dict[str, float]:
        times = []
        for i in range(count):
            user = harness.uname(f"sccold{i}")
            self.server.add_user(user)
            self.extra.append(user)
            seconds, code, err = self.login(user)
            harness.require(code == 0, f"cold login of {user} failed: {err}")
            times.append(seconds)
        return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}

    def at_once(self, jobs: Sequence[tuple[str, str]]) -> dict[str, object]:
        """Every job's login started together (a barrier), each timed on its own."""
        barrier = threading.Barrier(len(jobs))

        def one(job: tuple[str, str]) -> tuple[float, int, str]:
            barrier.wait()
            return self.login(*job)

        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            results = list(pool.map(one, jobs))
        times = [r[0] for r in results if r[1] == 0]
        errors = [r[2].strip() for r in results if r[1] != 0]
        return {"logins": len(jobs), "failed": len(errors), "errors": sorted(set(errors))[:5],
                "database_locked": sum(LOCKED in r[2] for r in results),
                "p50_s": statistics.median(times) if times else None,
                "p95_s": percentile(times, 0.95) if times else None,
                "max_s": max(times) if times else None}

    def floor_at_once(self, count: int, engine_argv: Sequence[str]) -> dict[str, object]:
        """What ``count`` logins at once cost without podspawn: each a plain ``ssh`` to an
        ordinary account followed by ``engine_argv`` (``docker run`` or ``docker exec``)."""
        barrier = threading.Barrier(count)
        plain = [*self.server.ssh_argv(self.plain), "true"]

        def one(_: int) -> tuple[float, int]:
            barrier.wait()
            start = time.perf_counter()
            code = harness.run(plain, timeout=900).returncode
            code = code or harness.run(list(engine_argv), timeout=900).returncode
            return time.perf_counter() - start, code

        with ThreadPoolExecutor(max_workers=count) as pool:
            results = list(pool.map(one, range(count)))
        times = [t for t, code in results if code == 0]
        return {"logins": count, "failed": count - len(times),
                "p50_s": statistics.median(times), "p95_s": percentile(times, 0.95),
                "max_s": max(times)}

    def sessions_now(self) -> int:
        done = self.server.podspawn("--json", "list")
        harness.require(done.returncode == 0, f"list failed: {done.stderr}")
        return len(json.loads(done.stdout))

    def grow_to(self, target: int) -> None:
        """Real logins to (user, project) pairs until ``target`` sessions run."""
        pairs = [(u, p) for p in ["", *self.projects] for u in self.users]
        missing = pairs[self.sessions_now() - len(self.extra):target - len(self.extra)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            failed = [r for r in pool.map(lambda pair: self.login(*pair), missing) if r[1]]
        harness.require(not failed, f"{len(failed)} logins failed: {failed[:2]}")

    def step(self, target: int, mem_before: float) -> dict[str, float]:
        self.grow_to(target)
        sessions = self.sessions_now()
        config = ["--config", str(self.server.config)]
        return {
            "sessions": sessions,
            "list_s": median_of(5, lambda: timed([str(harness.BIN), *config, "--json",
                                                  "list"])[0]),
            "cleanup_s": median_of(3, lambda: timed([str(harness.BIN), *config,
                                                     "cleanup"])[0]),
            "docker_ps_s": median_of(5, lambda: timed(["docker", "ps", "-aq"])[0]),
            "mem_per_session_mb": (mem_before - mem_available_mb()) / max(1, sessions),
        }

    def fill_pool(self, count: int) -> float:
        """``defaults.warm: count``, then one timed ``cleanup`` pass, which makes them."""
        self.server.set_config({"session": {"grace_period": "3h", "max_lifetime": "8h"},
                                "resources": {"max_per_user": 0},
                                "defaults": {"warm": count}})
        seconds, done = timed([str(harness.BIN), "--config", str(self.server.config),
                               "--json", "cleanup"], timeout=3600)
        harness.require(done.returncode == 0, f"cleanup failed: {done.stderr}")
        made = json.loads(done.stdout)["warm_made"]
        harness.require(made >= count or (count == 0 and made == 0),
                        f"the pool made {made} of {count} warm sessions")
        return seconds

    def new_users(self, base: str, count: int) -> list[str]:
        users = [harness.uname(f"{base}{i:03d}") for i in range(count)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self.server.add_user, users))
        self.extra += users
        return users

    def claimed(self, user: str) -> bool:
        import sqlite3

        with sqlite3.connect(self.server.root / "state" / "state.db") as conn:
            row = conn.execute("SELECT runtime_state FROM sessions WHERE user=? AND "
                               "project=''", (user,)).fetchone()
        return bool(row and json.loads(row[0]).get("pool"))

    def pool_logins(self, count: int) -> dict[str, object]:
        """``count`` new users one after another, each first login claiming a warm
        container, then the same user's warm login: the ratio the issue asks for."""
        self.fill_pool(count)
        claims, warms = [], []
        for user in self.new_users("scpool", count):
            seconds, code, err = self.login(user)
            harness.require(code == 0 and self.claimed(user), f"{user}: no claim: {err}")
            claims.append(seconds)
            warms.append(median_of(3, lambda u=user: self.login(u)[0]))  # type: ignore[misc]
        return {"claim_median_s": statistics.median(claims),
                "warm_median_s": statistics.median(warms), "claims": claims, "warm": warms}

    def pool_crowd(self, count: int) -> dict[str, object]:
        """``count`` new users' first logins at once against a pool of ``count``."""
        fill_s = self.fill_pool(count)
        users = self.new_users("scpc", count)
        crowd = self.at_once([(u, "") for u in users])
        crowd["claimed"] = sum(self.claimed(u) for u in users)
        crowd["fill_s"] = fill_s
        self.fill_pool(0)
        return crowd

    def locked_in_log(self) -> int:
        path = self.server.root / "log" / "podspawn.log"
        return path.read_text(errors="replace").count(LOCKED) if path.exists() else 0

    # -- tear-down ------------------------------------------------------------------------
    def teardown(self) -> None:
        """Users (with their containers), projects and images, the sshd and the files."""
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda u: self.server.podspawn("remove-user", u, "--force"),
                          [*self.users, *self.extra]))
        for project in self.projects:
            self.server.podspawn("remove-project", project)
        remove_plain_account(self.plain)
        harness.stop_server(self.server)
        for project in self.projects:
            images = harness.run(["docker", "images", "-q", "--filter",
                                  f"label=podspawn-project={project}"]).stdout.split()
            if images:
                harness.run(["docker", "rmi", "-f", *sorted(set(images))])


def measure(scale: Scale, *, cold: int, warm: int, steps: Sequence[int], pool: int
            ) -> dict[str, object]:
    log("floors: plain ssh, docker run")
    floors = scale.floors()
    mem_before = mem_available_mb()
    log(f"single cold login, {cold} users one after another")
    single = scale.single_cold(cold)
    log(f"{len(scale.users)} first logins at once")
    first = scale.at_once([(u, "") for u in scale.users])
    log(f"{warm} warm logins at once")
    warm_jobs = [(scale.users[i % len(scale.users)], "") for i in range(warm)]
    parallel = scale.at_once(warm_jobs)
    log("the same two crowds without podspawn: plain ssh, then docker run or docker exec")
    cold_floor = scale.floor_at_once(len(scale.users), [
        "docker", "run", "--rm", "--network", "none", harness.IMAGE, "true"])
    keeper = harness.run(["docker", "run", "-d", "--rm", "--network", "none", harness.IMAGE,
                          "sleep", "infinity"]).stdout.strip()
    try:
        warm_floor = scale.floor_at_once(warm, ["docker", "exec", keeper, "true"])
    finally:
        harness.run(["docker", "rm", "-f", keeper])
    pooled: dict[str, object] = {}
    if pool:
        log(f"warm pool: {cold} first logins one after another, each claiming one")
        pooled["single"] = scale.pool_logins(cold)
        log(f"warm pool of {pool}: {pool} new users' first logins at once")
        pooled["crowd"] = scale.pool_crowd(pool)
    grown = []
    for target in steps:
        log(f"growing to {target} sessions, then timing list and cleanup")
        grown.append(scale.step(target, mem_before))
    return {"floors": floors, "single_cold": single, "first_logins": first,
            "warm_logins": parallel, "first_logins_floor": cold_floor,
            "warm_logins_floor": warm_floor, "steps": grown, "pool": pooled,
            "database_locked_in_log": scale.locked_in_log()}


def analyse(data: dict[str, object]) -> dict[str, object]:
    single = data["single_cold"]["median_s"]
    first = data["first_logins"]
    last = data["steps"][-1] if data["steps"] else {}
    floors = data["floors"]
    pool = data.get("pool") or {}
    extra = {}
    if pool:
        extra = {"claim_vs_warm_login": pool["single"]["claim_median_s"]
                 / pool["single"]["warm_median_s"],
                 "claim_vs_cold": pool["single"]["claim_median_s"] / single,
                 "pool_crowd_p95_vs_cold": (pool["crowd"]["p95_s"] or float("inf")) / single,
                 "pool_crowd_p95_vs_floor_p95": (pool["crowd"]["p95_s"] or float("inf"))
                 / data["first_logins_floor"]["p95_s"]}
    return {
        **extra,
        "cold_vs_ssh_plus_docker_run": single / (floors["ssh_plain_s"] + floors["docker_run_s"]),
        "first_logins_p95_vs_cold": (first["p95_s"] or float("inf")) / single,
        "first_logins_max_vs_cold": (first["max_s"] or float("inf")) / single,
        "first_logins_p95_vs_floor_p95": (first["p95_s"] or float("inf"))
        / data["first_logins_floor"]["p95_s"],
        "warm_logins_p95_vs_floor_p95": (data["warm_logins"]["p95_s"] or float("inf"))
        / data["warm_logins_floor"]["p95_s"],
        "list_vs_docker_ps_at_max": last.get("list_s", 0) / max(1e-9, last.get("docker_ps_s", 1)),
        "cleanup_vs_docker_ps_at_max": last.get("cleanup_s", 0) / max(
            1e-9, last.get("docker_ps_s", 1)),
    }


def report(result: dict[str, object]) -> None:
    floors, single = result["floors"], result["single_cold"]
    first, warm = result["first_logins"], result["warm_logins"]
    print(f"\nfloors: plain ssh {floors['ssh_plain_s']:.3f} s, docker run "
          f"{floors['docker_run_s']:.3f} s")
    print(f"single cold login: {single['median_s']:.3f} s")
    for name, row in (("first logins at once", first), ("warm logins at once", warm),
                      ("  floor: plain ssh + docker run at once", result["first_logins_floor"]),
                      ("  floor: plain ssh + docker exec at once", result["warm_logins_floor"])):
        print(f"{name}: {row['logins']} logins, {row['failed']} failed, "
              f"p50 {row['p50_s']:.3f} s, p95 {row['p95_s']:.3f} s, "
              f"max {row['max_s']:.3f} s, 'database is locked' {row.get('database_locked', '-')}")
    pool = result.get("pool") or {}
    if pool:
        one, crowd = pool["single"], pool["crowd"]
        print(f"warm pool: first login claiming {one['claim_median_s']:.3f} s, the same "
              f"user's warm login {one['warm_median_s']:.3f} s")
        print(f"warm pool crowd: {crowd['logins']} logins, {crowd['failed']} failed, "
              f"{crowd['claimed']} claimed, p50 {crowd['p50_s']:.3f} s, p95 "
              f"{crowd['p95_s']:.3f} s, max {crowd['max_s']:.3f} s (pool filled in "
              f"{crowd['fill_s']:.1f} s)")
    print("sessions  list_s  cleanup_s  docker_ps_s  MB/session")
    for row in result["steps"]:
        print(f"{row['sessions']:8d}  {row['list_s']:6.3f}  {row['cleanup_s']:9.3f}  "
              f"{row['docker_ps_s']:11.3f}  {row['mem_per_session_mb']:10.1f}")
    print("ratios: " + ", ".join(f"{k} {v:.2f}"
                                 for k, v in result["ratios"].items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=50, help="users logging in at once (50)")
    parser.add_argument("--projects", type=int, default=10,
                        help="projects per user for the session counts (10)")
    parser.add_argument("--cold", type=int, default=5, help="single cold logins timed (5)")
    parser.add_argument("--warm", type=int, default=100, help="warm logins at once (100)")
    parser.add_argument("--pool", type=int, default=50,
                        help="warm-pool size for the crowd of first logins (50; 0 skips)")
    parser.add_argument("--steps", default="100,250,500",
                        help="session counts to time list and cleanup at (100,250,500)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run it as root: it installs podspawn, starts sshd and adds accounts")
    steps = [int(s) for s in args.steps.split(",") if s]
    most = args.users * (args.projects + 1) + args.cold
    if steps and max(steps) > most:
        parser.error(f"--steps up to {max(steps)} needs more users or projects (at most {most})")
    harness.ensure_docker()
    log(f"installing this checkout into {harness.PREFIX}")
    harness.install()
    client_dir = Path(tempfile.mkdtemp(prefix="podspawn-scale-"))
    scale = Scale(client_dir, users=args.users, projects=args.projects)
    try:
        log(f"adding {args.users} users and {args.projects} projects")
        scale.register()
        data = measure(scale, cold=args.cold, warm=args.warm, steps=steps, pool=args.pool)
        commit = harness.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
        result: dict[str, object] = {
            "meta": {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "host": platform.node(), "cpus": os.cpu_count(),
                     "kernel": platform.release(), "commit": commit.stdout.strip(),
                     "users": args.users, "projects": args.projects, "warm": args.warm},
            **data, "targets": TARGETS,
        }
        result["ratios"] = analyse(result)
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"scale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        report(result)
        print(f"\nresults: {out}")
    finally:
        log("cleaning up")
        scale.teardown()
        shutil.rmtree(client_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
