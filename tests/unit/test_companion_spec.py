"""services/companions.service_spec: a companion container as plain data."""

from __future__ import annotations

from dataclasses import replace

from podspawn import labels
from podspawn.config.schema import SecurityConfig, ServerConfig
from podspawn.podfile.model import Service
from podspawn.services.companions import service_spec

LABELS = labels.for_object("0123456789ab", "alice", "api", "session", session="s1")
NETWORK = "podspawn-network.alice.api"


def test_services_run_under_the_sessions_oci_runtime() -> None:
    service = Service(name="db", image="debian:bookworm")
    plain = service_spec(service, config=ServerConfig(), user="alice", project="api",
                         network=NETWORK, labels=LABELS)
    sandboxed = service_spec(service, config=ServerConfig(security=SecurityConfig(runtime="runsc")),
                             user="alice", project="api", network=NETWORK, labels=LABELS)
    assert plain.runtime == ""
    assert sandboxed.runtime == "runsc"
    assert replace(sandboxed, runtime="") == plain
