"""status's summary and the Prometheus metrics built from it, parsed back with
prometheus_client's own parser; the daemon's histograms fed from a real state database."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from podspawn.cli.status import summary_data, summary_lines
from podspawn.config.loader import load_config
from podspawn.errors import RuntimeUnavailable, UsageError
from podspawn.services import metrics
from podspawn.services.cleanup import CleanupResult
from podspawn.services.summary import EngineSummary, Summary, summarize
from podspawn.state.db import open_db
from podspawn.state.records import Connection, SessionRow
from podspawn.state.sessions import add_connection, insert_session
from podspawn.state.timings import IMAGE_BUILD, LOGIN, record_timing

ENGINE = EngineSummary(containers=4, pool_capacity=31, pool_free=27,
                       pools_source="Docker's default pools")
SUMMARY = Summary(sessions={"running": 2, "grace_period": 1, "starting": 0}, connections=3,
                  users=2, projects=1, oldest_session_seconds=2700.4, engine=ENGINE)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _types(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_status_metrics_keep_the_go_names_and_add_ours() -> None:
    text = metrics.render_status(SUMMARY)
    samples = _samples(text)
    assert samples[("podspawn_sessions_total", ())] == 3
    assert samples[("podspawn_sessions_running", ())] == 2
    assert samples[("podspawn_sessions_grace", ())] == 1
    assert samples[("podspawn_connections_total", ())] == 3
    assert samples[("podspawn_containers_docker", ())] == 4
    assert samples[("podspawn_oldest_session_seconds", ())] == 2700
    assert samples[("podspawn_sessions", (("status", "starting"),))] == 0
    assert samples[("podspawn_address_pool_free_subnets", ())] == 27
    assert samples[("podspawn_address_pool_subnets", ())] == 31
    assert samples[("podspawn_users", ())] == 2 and samples[("podspawn_projects", ())] == 1
    assert samples[("podspawn_engine_up", ())] == 1
    assert set(_types(text).values()) == {"gauge"}
    assert "# HELP podspawn_sessions_total " in text and "# TYPE podspawn_sessions_total gauge" \
        in text


def test_without_an_engine_its_gauges_are_absent_not_zero() -> None:
    down = Summary(sessions={"running": 1, "grace_period": 0, "starting": 0}, connections=1,
                   users=1, projects=0, oldest_session_seconds=None, engine=None,
                   engine_error="connection refused")
    samples = _samples(metrics.render_status(down))
    assert samples[("podspawn_engine_up", ())] == 0
    assert samples[("podspawn_oldest_session_seconds", ())] == 0
    assert not any(name.startswith(("podspawn_containers", "podspawn_address_pool"))
                   for name, _ in samples)
    data = summary_data(down)
    assert (data["containers"], data["address_pool"], data["engine_up"]) == (None, None, False)
    assert data["engine_error"] == "connection refused"
    assert "Containers:    unknown, the engine does not answer (connection refused)" in \
        summary_lines(down)


def test_status_text_lines() -> None:
    assert summary_lines(SUMMARY) == [
        "Sessions:      3 total (2 running, 1 grace_period, 0 starting)",
        "Connections:   3 active",
        "Users:         2",
        "Projects:      1",
        "Oldest:        45m",
        "Containers:    4 in the engine",
        "Address pool:  27 of 31 subnets free (Docker's default pools; each session takes one)",
    ]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, sqlite3.Connection]:
    root = tmp_path / "srv"
    (root / "keys").mkdir(parents=True)
    (root / "keys" / "carol").write_text("")
    path = root / "config.yaml"
    path.write_text(f"auth:\n  key_dir: {root}/keys\n"
                    f"state:\n  db_path: {root}/state/state.db\n  lock_dir: {root}/locks\n"
                    f"log:\n  file: {root}/podspawn.log\n")
    config = load_config(str(path), write_cache=False)
    conn = open_db(config.state.db_path, create=True)
    # the engine is not what is tested here: it "does not answer"
    def down(name: str = "docker") -> None:
        raise RuntimeUnavailable("Docker is not running", detail="not asked")

    monkeypatch.setattr("podspawn.runtime.facts.engine_facts", down)
    return config, conn


def _row(user: str, status: str, age: float) -> SessionRow:
    now = time.time()
    return SessionRow(user=user, project="", container_id="c", container_name=f"podspawn-{user}",
                      image="debian:bookworm", status=status, connections=0,
                      created_at=now - age, last_activity=now, max_lifetime=now + 3600,
                      mode="grace-period")


def test_summarize_counts_rows_and_live_connections_only(
        install: tuple[Any, sqlite3.Connection]) -> None:
    config, conn = install
    insert_session(conn, _row("alice", "running", 600))
    insert_session(conn, _row("bob", "grace_period", 60))
    import os

    from podspawn.procs import start_time

    me = os.getpid()
    add_connection(conn, Connection(user="alice", project="", pid=me,
                                    pid_start=start_time(me) or 0, started_at=time.time()))
    add_connection(conn, Connection(user="alice", project="", pid=me, pid_start=1,
                                    started_at=time.time()))  # a dead process's
    summary = summarize(config=config, conn=conn)
    assert summary.sessions == {"running": 1, "grace_period": 1, "starting": 0}
    assert summary.connections == 1
    assert summary.users == 1  # carol has a key file
    assert summary.oldest_session_seconds == pytest.approx(600, abs=5)
    assert (summary.engine, summary.engine_error) == (None, "not asked")


def _value(daemon: metrics.DaemonMetrics, name: str, **labels: str) -> float | None:
    return daemon.registry.get_sample_value(name, labels)


def test_the_daemon_counts_timings_stored_after_it_started(
        install: tuple[Any, sqlite3.Connection]) -> None:
    config, conn = install
    record_timing(conn, LOGIN, 0.2, "warm")  # before the daemon: not counted
    daemon = metrics.DaemonMetrics(config, conn)
    record_timing(conn, LOGIN, 0.25, "warm")
    record_timing(conn, LOGIN, 4.0, "cold")
    record_timing(conn, IMAGE_BUILD, 40.0, "layer:ok")
    assert daemon.ingest(conn) == 3
    assert daemon.ingest(conn) == 0  # each row once
    assert _value(daemon, "podspawn_login_duration_seconds_count", path="warm") == 1
    assert _value(daemon, "podspawn_login_duration_seconds_bucket", path="warm", le="0.3") == 1
    assert _value(daemon, "podspawn_login_duration_seconds_sum", path="cold") == 4.0
    assert _value(daemon, "podspawn_image_build_duration_seconds_count", kind="layer",
                  outcome="ok") == 1


def test_a_scrape_reads_new_timings_and_fresh_gauges(
        install: tuple[Any, sqlite3.Connection]) -> None:
    from prometheus_client import generate_latest

    config, conn = install
    daemon = metrics.DaemonMetrics(config, conn)
    insert_session(conn, _row("alice", "running", 5))
    record_timing(conn, LOGIN, 0.4, "cold")
    samples = _samples(generate_latest(daemon.registry).decode())
    assert samples[("podspawn_sessions_total", ())] == 1
    assert samples[("podspawn_login_duration_seconds_count", (("path", "cold"),))] == 1
    assert samples[("podspawn_cleanup_passes_total", (("outcome", "ok"),))] == 0


def test_passes_count_what_they_removed(install: tuple[Any, sqlite3.Connection]) -> None:
    config, conn = install
    daemon = metrics.DaemonMetrics(config, conn)
    daemon.record_pass(CleanupResult(grace_expired=2, orphans_removed=1, warned=3), 0.2)
    daemon.record_pass(None, 0.1)
    assert _value(daemon, "podspawn_cleanup_passes_total", outcome="ok") == 1
    assert _value(daemon, "podspawn_cleanup_passes_total", outcome="failed") == 1
    assert _value(daemon, "podspawn_cleanup_removed_total", kind="grace_expired") == 2
    assert _value(daemon, "podspawn_cleanup_removed_total", kind="orphans_removed") == 1
    assert _value(daemon, "podspawn_cleanup_removed_total", kind="lifetime_expired") == 0
    assert _value(daemon, "podspawn_cleanup_warnings_total") == 3
    assert _value(daemon, "podspawn_cleanup_pass_duration_seconds_count") == 2


@pytest.mark.parametrize(("listen", "expected"), [
    ("127.0.0.1:9300", ("127.0.0.1", 9300)),
    ("[::1]:9300", ("::1", 9300)),
    (":9300", ("0.0.0.0", 9300)),
])
def test_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert metrics.parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9300", "127.0.0.1:", "127.0.0.1:http", "host:0",
                                    "host:70000", ""])
def test_bad_listen_addresses_name_the_fix(listen: str) -> None:
    with pytest.raises(UsageError, match=r"is not ADDR:PORT; use, for example, 127\.0\.0\.1"):
        metrics.parse_listen(listen)


def test_a_taken_port_is_one_sentence(install: tuple[Any, sqlite3.Connection]) -> None:
    import socket

    config, conn = install
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"127.0.0.1:{port}: cannot listen there"):
            metrics.DaemonMetrics(config, conn).serve(f"127.0.0.1:{port}")


def test_removal_kinds_are_the_counts_of_a_cleanup_result() -> None:
    assert metrics.removal_kinds() == ["grace_expired", "lifetime_expired", "orphans_removed",
                                       "rows_dropped", "users_expired", "binds_released",
                                       "idle_ended", "warm_drained"]
