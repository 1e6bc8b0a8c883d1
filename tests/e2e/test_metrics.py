"""``status`` and the cleanup daemon's ``/metrics``, scraped by a real Prometheus server.

Prometheus is Debian's package (scripts/test.sh installs it), run here as a subprocess with a
config of its own, a private data directory and a free loopback port, scraping the daemon on
loopback every second. The test asks it through its HTTP API, as a dashboard would.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import BIN, free_port, wait_for
from tests.e2e.project_helpers import forget, pname
from tests.e2e.test_projects import make_repo

TIMEOUT = 900


def sessions(server, user: str) -> list[dict]:
    result = server.podspawn("--json", "list")
    assert result.returncode == 0, result.stderr
    return [r for r in json.loads(result.stdout) if r["user"] == user]


def live_session(server, user: str) -> subprocess.Popen:
    """A long-running ssh session, returned once it runs and podspawn counts it (a cold
    login's row is ``starting``, with its connection, until the container is up)."""
    proc = subprocess.Popen([*server.ssh_argv(user), "sleep 300"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    counted = wait_for(lambda: any(r["connections"] >= 1 and r["status"] == "running"
                                   for r in sessions(server, user)), timeout=TIMEOUT)
    if not counted:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the session of {user} never counted a connection: {err.decode()}")
    return proc


def end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def our_containers(server) -> int:
    out = subprocess.run(["docker", "ps", "-aq", "--filter",
                          f"label=podspawn-instance={server.install_id()}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.split())


def test_status_reports_a_live_session_in_every_format(server):
    user = server.fresh_user("status")
    proc = live_session(server, user)
    try:
        result = server.podspawn("--json", "status")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["sessions_by_status"]["running"] >= 1
        assert data["sessions"] == sum(data["sessions_by_status"].values())
        assert data["connections"] >= 1
        assert data["users"] >= 1
        assert data["engine_up"] is True and data["engine_error"] is None
        assert data["containers"] == our_containers(server)
        pool = data["address_pool"]
        assert 0 <= pool["free"] < pool["capacity"]  # our session's network takes one

        text = server.podspawn("status")
        assert text.returncode == 0, text.stderr
        assert text.stdout.startswith(f"Sessions:      {data['sessions']} total (")
        assert f"Containers:    {data['containers']} in the engine" in text.stdout

        prom = server.podspawn("status", "--prometheus")
        assert prom.returncode == 0, prom.stderr
        got = samples(prom.stdout)
        assert got[("podspawn_sessions_total", ())] == data["sessions"]
        assert got[("podspawn_connections_total", ())] >= 1
        assert got[("podspawn_containers_docker", ())] == data["containers"]
        # other installations on this engine make networks too: the pool moves, within bounds
        assert 0 <= got[("podspawn_address_pool_free_subnets", ())] < pool["capacity"]
        assert got[("podspawn_address_pool_subnets", ())] == pool["capacity"]
        assert "# TYPE podspawn_sessions_total gauge" in prom.stdout
    finally:
        end(proc)


def test_a_bad_metrics_address_is_one_sentence(server):
    result = server.podspawn("cleanup", "--daemon", "--metrics-listen", "localhost")
    assert result.returncode == 2
    assert result.stderr == ("podspawn: --metrics-listen 'localhost' is not ADDR:PORT; use, "
                             "for example, 127.0.0.1:9300\n")


# -- a real Prometheus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus is not installed: apt-get install prometheus "
                    "(scripts/test.sh installs it)", pytrace=False)
    return found


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def query(port: int, promql: str) -> list[dict]:
    """The vector Prometheus answers for ``promql`` now (empty while it has no data)."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        answer = json.loads(http_get(url))
    except OSError:
        return []
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def value_of(port: int, promql: str) -> float | None:
    result = query(port, promql)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def daemon(server, tmp_path):
    """``cleanup --daemon --metrics-listen`` on a free loopback port, one pass a second."""
    port = free_port()
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [str(BIN), "--config", str(server.config), "cleanup", "--daemon", "--interval", "1s",
         "--metrics-listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            return b"podspawn_sessions_total" in http_get(f"http://127.0.0.1:{port}/metrics")
        except OSError:
            return False

    try:
        if not wait_for(answers, timeout=30, step=0.2):
            pytest.fail("the daemon's /metrics never answered:\n"
                        + (tmp_path / "daemon.log").read_text())
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            log.close()
    assert proc.returncode == 0, (tmp_path / "daemon.log").read_text()


@pytest.fixture
def prometheus(prometheus_bin, daemon, tmp_path):
    """Prometheus scraping the daemon every second, with its own data dir and port."""
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: podspawn\n    scrape_interval: 1s\n"
        "    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{daemon}']\n")
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [prometheus_bin, f"--config.file={config}",
         f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: value_of(port, 'up{job="podspawn"}') == 1, timeout=60):
            pytest.fail("Prometheus never scraped the daemon:\n"
                        + (tmp_path / "prometheus.log").read_text()[-3000:])
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_prometheus_scrapes_the_daemon_and_answers_about_a_live_session(
        server, daemon, prometheus, tmp_path):
    user = server.fresh_user("scraped")
    proc = live_session(server, user)  # a cold login, after the daemon started
    try:
        running = wait_for(lambda: (value_of(prometheus, 'podspawn_sessions{status="running"}')
                                    or 0) >= 1 and
                           (value_of(prometheus, "podspawn_connections_total") or 0) >= 1,
                           timeout=60)
        assert running, query(prometheus, '{__name__=~"podspawn_(sessions|connections).*"}')
        logins = wait_for(
            lambda: value_of(prometheus, 'podspawn_login_duration_seconds_count{path="cold"}'),
            timeout=60)
        assert logins is not None and logins >= 1
        mean = value_of(prometheus, 'podspawn_login_duration_seconds_sum{path="cold"} / '
                                    'podspawn_login_duration_seconds_count{path="cold"}')
        assert mean is not None and 0 < mean < TIMEOUT
    finally:
        end(proc)

    # a second, warm login while the first session is in its grace period
    again = server.ssh(user, "true")
    assert again.returncode == 0, again.stderr.decode()
    assert wait_for(lambda: value_of(
        prometheus, 'podspawn_login_duration_seconds_count{path="warm"}'), timeout=60)
    # the gauge follows the server: once the client is gone, no connection is counted
    assert wait_for(lambda: value_of(prometheus, "podspawn_connections_total") == 0,
                    timeout=60), query(prometheus, "podspawn_connections_total")
    assert (value_of(prometheus, 'podspawn_cleanup_passes_total{outcome="ok"}') or 0) >= 1
    stopped = server.podspawn("stop", user)
    assert stopped.returncode == 0, stopped.stderr


def test_image_builds_reach_the_histogram(server, daemon, prometheus, tmp_path):
    project = pname("metricsbuild")
    repo = make_repo(tmp_path / "repo", "base: debian:bookworm\n")
    forget(server, project)
    try:
        added = server.podspawn("add-project", project, "--repo", str(repo))
        assert added.returncode == 0, added.stdout + added.stderr
        built = wait_for(lambda: value_of(
            prometheus, 'podspawn_image_build_duration_seconds_count'
                        '{kind="project",outcome="ok"}'), timeout=60)
        assert built is not None and built >= 1
    finally:
        forget(server, project)


def test_sigterm_ends_the_daemon_and_its_endpoint(server):
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "--config", str(server.config), "cleanup", "--daemon", "--interval", "1s",
         "--metrics-listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def page() -> bytes:
            try:
                return http_get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return b""

        text = wait_for(page, timeout=30, step=0.2)
        assert b"# TYPE podspawn_login_duration_seconds histogram" in text
        assert b"# TYPE podspawn_cleanup_removed_total counter" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert "serving metrics listen=127.0.0.1:" in err.decode()
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{port}/metrics", timeout=2)
