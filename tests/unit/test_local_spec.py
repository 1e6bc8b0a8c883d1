"""A local session's container, as data: the checkout bound as given, ports on loopback."""

from __future__ import annotations

from podspawn import labels
from podspawn.runtime.base import Mount
from podspawn.runtime.container_runtime import session_container
from podspawn.runtime.spec import Bind, PortPublish, SessionSpec


def test_binds_and_published_ports_reach_the_session_container_only() -> None:
    spec = SessionSpec(session_id="s1", install_id="iid", user="dev", project="app-1a2b",
                       image="img", hostname="app", workspace="",
                       binds=(Bind(source="/home/dev/app", target="/workspace/app"),),
                       published=(PortPublish("127.0.0.1", 3001, 3000),),
                       labels={labels.MODE: "local"})
    container = session_container(spec, network="net", session_labels={labels.MODE: "local"})
    assert container.mounts == (Mount(target="/workspace/app", source="/home/dev/app"),)
    assert container.published == (PortPublish(host_ip="127.0.0.1", host_port=3001,
                                               container_port=3000),)
    assert container.labels[labels.MODE] == "local"


def test_a_server_session_publishes_nothing() -> None:
    spec = SessionSpec(session_id="s1", install_id="iid", user="dev", project="x", image="img",
                       hostname="h", workspace="/workspace/x")
    container = session_container(spec, network="net", session_labels={})
    assert container.published == ()
    assert [m.type for m in container.mounts] == ["volume"]
