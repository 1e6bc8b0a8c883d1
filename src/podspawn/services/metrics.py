"""Prometheus metrics: the ``status`` gauges, and what only the cleanup daemon can keep.

``podspawn status --prometheus`` prints the gauges of one :class:`~podspawn.services.
summary.Summary`. ``cleanup --daemon --metrics-listen`` serves the same gauges, computed
afresh at every scrape, plus counters and histograms that need a process that lives: login
latency and image build times (read from the state database's ``timings``, which every
``spawn`` and build appends to), and its own cleanup passes. Everything is produced by
``prometheus_client``; the names and types are listed in docs/operations.md.

The gauge names of the Go implementation's ``status --prometheus`` are kept
(``podspawn_sessions_total`` and the rest are gauges despite the suffix), so its
dashboards keep working.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from podspawn import log
from podspawn.config.schema import ServerConfig
from podspawn.errors import PodspawnError, UsageError
from podspawn.services.summary import STATUSES, Summary, summarize
from podspawn.state.db import open_db
from podspawn.state.timings import IMAGE_BUILD, LOGIN, last_timing_id, timings_after

if TYPE_CHECKING:
    import sqlite3
    from wsgiref.simple_server import WSGIServer

    from podspawn.runtime.base import Runtime
    from podspawn.services.cleanup import CleanupResult

#: Login latency buckets, seconds: a warm login is a few hundred ms, a cold one seconds.
LOGIN_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
#: Image build buckets, seconds: a layer takes about half a minute, a project minutes.
BUILD_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
PASS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # no ``*_created`` series: noise


def status_metrics(summary: Summary) -> list[Metric]:
    """The gauges of ``summary``; the engine's only when it answered."""
    families: list[Metric] = [
        _gauge("podspawn_sessions_total", "Sessions of every status.", summary.total_sessions),
        _gauge("podspawn_sessions_running", "Sessions running.", summary.sessions["running"]),
        _gauge("podspawn_sessions_grace", "Sessions in their grace period.",
               summary.sessions["grace_period"]),
        _gauge("podspawn_connections_total", "Live SSH connections to sessions.",
               summary.connections),
        _gauge("podspawn_oldest_session_seconds", "Age of the oldest session (0: none).",
               round(summary.oldest_session_seconds or 0.0)),
        _gauge("podspawn_users", "Registered users.", summary.users),
        _gauge("podspawn_projects", "Registered projects.", summary.projects),
        _gauge("podspawn_engine_up", "Whether the container engine answered (1) or not (0).",
               1 if summary.engine is not None else 0),
    ]
    by_status = GaugeMetricFamily("podspawn_sessions", "Sessions by status.",
                                  labels=["status"])
    for status in (*STATUSES, *sorted(set(summary.sessions) - set(STATUSES))):
        by_status.add_metric([status], summary.sessions.get(status, 0))
    families.insert(3, by_status)
    if summary.warm:
        ready = GaugeMetricFamily("podspawn_warm_pool_ready", "Warm sessions ready to be "
                                  "claimed, by project (\"\" is the default environment).",
                                  labels=["project"])
        target = GaugeMetricFamily("podspawn_warm_pool_target", "Warm sessions each pool "
                                   "keeps (defaults.warm, projects.NAME.warm).",
                                   labels=["project"])
        for name, pool in summary.warm.items():
            ready.add_metric([name], pool.ready)
            target.add_metric([name], pool.target)
        families += [ready, target]
    if summary.engine is not None:
        families += [
            _gauge("podspawn_containers_docker", "Containers of this installation in the "
                   "container engine (sessions and services, running or not).",
                   summary.engine.containers),
            _gauge("podspawn_address_pool_subnets", "Bridge subnets in the engine's address "
                   "pools; each session takes one.", summary.engine.pool_capacity),
            _gauge("podspawn_address_pool_free_subnets", "Bridge subnets still free: how many "
                   "more sessions can get a network.", summary.engine.pool_free),
        ]
    return families


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _Fixed(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def render_status(summary: Summary) -> str:
    """``summary`` in Prometheus's text exposition format (``status --prometheus``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(status_metrics(summary)))
    return prometheus_client.generate_latest(registry).decode("utf-8")


class _StatusCollector(Collector):
    """The gauges, from a fresh look at the database and the engine at each scrape; the
    scrape also reads new timings first, so the histograms it returns are up to date."""

    def __init__(self, metrics: DaemonMetrics) -> None:
        self._metrics = metrics
        self._runtime: Runtime | None = None  # one engine client for every scrape
        self._lock = threading.Lock()  # scrapes may come in parallel; they share it

    def collect(self) -> Iterator[Metric]:
        config = self._metrics.config
        with self._lock:
            try:
                conn = open_db(config.state.db_path)
            except PodspawnError as exc:
                log.error("metrics: state database unreadable",
                          error=exc.detail or exc.message)
                return
            try:
                self._metrics.ingest(conn)
                if self._runtime is None:
                    self._runtime = _runtime(config)
                summary = summarize(config=config, conn=conn, runtime=self._runtime)
            finally:
                conn.close()
        yield from status_metrics(summary)


def _runtime(config: ServerConfig) -> Runtime | None:
    """The engine's client, or None while it does not answer (asked again next scrape)."""
    from podspawn.runtime import get_runtime

    try:
        return get_runtime(config.runtime.backend)
    except PodspawnError:
        return None


class DaemonMetrics:
    """The registry that ``cleanup --daemon --metrics-listen`` serves."""

    def __init__(self, config: ServerConfig, conn: sqlite3.Connection) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=False)
        # registered first, so each scrape ingests timings before the histograms are read
        self.registry.register(_StatusCollector(self))
        self.logins = Histogram(
            "podspawn_login_duration_seconds", "Time from the start of a login's spawn to "
            "its hand-off into the container, by path (warm: the session was running; cold: "
            "it was made).", ["path"], buckets=LOGIN_BUCKETS, registry=self.registry)
        self.builds = Histogram(
            "podspawn_image_build_duration_seconds", "Time an image build took, by kind "
            "(layer, project) and outcome (ok, failed).", ["kind", "outcome"],
            buckets=BUILD_BUCKETS, registry=self.registry)
        self.passes = Counter("podspawn_cleanup_passes", "Cleanup passes run, by outcome.",
                              ["outcome"], registry=self.registry)
        self.pass_seconds = Histogram("podspawn_cleanup_pass_duration_seconds",
                                      "Time a cleanup pass took.", buckets=PASS_BUCKETS,
                                      registry=self.registry)
        self.removed = Counter("podspawn_cleanup_removed", "What cleanup passes removed or "
                               "ended, by kind.", ["kind"], registry=self.registry)
        self.warned = Counter("podspawn_cleanup_warnings", "Connections warned that their "
                              "session's lifetime ends soon.", registry=self.registry)
        for outcome in ("ok", "failed"):
            self.passes.labels(outcome)
        for kind in removal_kinds():
            self.removed.labels(kind)
        self._lock = threading.Lock()
        self._last_id = last_timing_id(conn)  # counted since this daemon started

    def ingest(self, conn: sqlite3.Connection) -> int:
        """Observe the timings stored since the last call; returns how many."""
        with self._lock:
            seen = 0
            while True:
                batch = timings_after(conn, self._last_id)
                if not batch:
                    return seen
                for timing in batch:
                    if timing.name == LOGIN:
                        self.logins.labels(timing.label or "unknown").observe(timing.seconds)
                    elif timing.name == IMAGE_BUILD:
                        kind, _, outcome = timing.label.partition(":")
                        self.builds.labels(kind, outcome or "ok").observe(timing.seconds)
                    self._last_id = timing.id
                seen += len(batch)

    def record_pass(self, result: CleanupResult | None, seconds: float) -> None:
        """Count one cleanup pass (``None``: it failed) and what it removed."""
        self.pass_seconds.observe(seconds)
        self.passes.labels("ok" if result is not None else "failed").inc()
        if result is None:
            return
        for kind in removal_kinds():
            self.removed.labels(kind).inc(getattr(result, kind))
        self.warned.inc(result.warned)

    def serve(self, listen: str) -> WSGIServer:
        """Serve ``/metrics`` on ``listen`` (``ADDR:PORT``) from a background thread.

        Raises:
            UsageError: ``listen`` is not ``ADDR:PORT``, or the port cannot be bound.
        """
        host, port = parse_listen(listen)
        try:
            server, _ = prometheus_client.start_http_server(port, addr=host,
                                                            registry=self.registry)
        except OSError as exc:
            raise UsageError(f"--metrics-listen {listen}: cannot listen there "
                             f"({exc.strerror or exc}); pick a free port") from None
        return server


def removal_kinds() -> list[str]:
    """The fields of a cleanup result that count something removed or ended: its counts
    (``int`` fields), less ``warned`` and ``warm_made``, which count warnings and warm
    sessions made."""
    from podspawn.services.cleanup import CleanupResult

    return [f.name for f in dataclasses.fields(CleanupResult)
            if type(f.default) is int and f.name not in ("warned", "warm_made")]


def parse_listen(listen: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[::1]:9300`` for IPv6; an empty ADDR means every address).

    Raises:
        UsageError: not that shape, or the port is not 1-65535.
    """
    host, sep, port_text = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--metrics-listen {listen!r} is not ADDR:PORT; use, for example, "
                         "127.0.0.1:9300")
    return host or "0.0.0.0", int(port_text)  # noqa: S104 - an empty ADDR asks for all

