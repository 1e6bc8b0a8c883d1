"""services/companions.companion_spec: a Podfile service as the runtime gets it."""

from __future__ import annotations

from dataclasses import replace

from podspawn.config.schema import SecurityConfig, ServerConfig
from podspawn.podfile.model import Service
from podspawn.services.companions import companion_spec


def test_services_run_under_the_sessions_oci_runtime() -> None:
    service = Service(name="db", image="debian:bookworm")
    plain = companion_spec(ServerConfig(), service)
    sandboxed = companion_spec(ServerConfig(security=SecurityConfig(runtime="runsc")), service)
    assert plain.hardening.oci_runtime == ""
    assert sandboxed.hardening.oci_runtime == "runsc"
    assert replace(sandboxed, hardening=replace(sandboxed.hardening, oci_runtime="")) == plain
