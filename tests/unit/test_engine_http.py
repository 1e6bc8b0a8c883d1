"""The standard-library Engine API client: framing, errors, and the create body it sends.

The requests themselves are checked against real Docker and Podman by the contract suite
(``tests/contract``); here a unix-socket server plays the engine so that each answer is
exactly the one under test.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from podspawn.errors import ImageUnavailable, RuntimeFailure, RuntimeUnavailable
from podspawn.runtime.base import ContainerSpec, Mount, PortPublish
from podspawn.runtime.docker import DockerEngine, _create_body
from podspawn.runtime.engine_http import EngineError, EngineSocket, demultiplex, label_filter
from tests.unit.engine_socket import answering


def _frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def test_demultiplex_joins_stdout_and_stderr_in_order() -> None:
    stream = _frame(1, b"out\n") + _frame(2, b"err\n") + _frame(1, b"more")
    assert demultiplex(stream) == b"out\nerr\nmore"


def test_an_unframed_answer_is_kept_whole() -> None:
    """runc's "executable file not found" comes back as plain text, not in frames."""
    text = b"OCI runtime exec failed: exec: \"nope\": executable file not found\r\n"
    assert demultiplex(text) == text
    assert demultiplex(_frame(1, b"a") + text) == b"a" + text


def test_label_filter_is_one_query_value() -> None:
    assert label_filter({"a": "b", "c": ""}) == (
        "%7B%22label%22%3A%20%5B%22a%3Db%22%2C%20%22c%3D%22%5D%7D")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes], list[bytes]]]:
    """A socket playing the engine: (its path, the replies by request line, what came)."""
    path = str(tmp_path / "engine.sock")
    replies: dict[str, bytes] = {}
    seen: list[bytes] = []
    for _ in answering(path, replies, seen):
        yield path, replies, seen


def test_an_error_carries_the_engines_status_and_message(
        engine: tuple[str, dict[str, bytes], list[bytes]]) -> None:
    path, _, seen = engine
    with pytest.raises(EngineError) as caught:
        EngineSocket(path).call("GET", "/containers/x/json")
    assert (caught.value.status, caught.value.message) == (404, "no such thing")
    assert seen[0].startswith(b"GET /v1.41/containers/x/json HTTP/1.0\r\n")


def test_not_modified_is_success(engine: tuple[str, dict[str, bytes], list[bytes]]) -> None:
    """Starting a running container answers 304, which the SDK took as done too."""
    path, replies, _ = engine
    replies["/start"] = b"HTTP/1.0 304 Not Modified\r\n\r\n"
    assert EngineSocket(path).call("POST", "/containers/x/start") is None


def test_garbage_and_no_socket_are_unreachable(
        engine: tuple[str, dict[str, bytes], list[bytes]], tmp_path: Path) -> None:
    path, replies, _ = engine
    replies["/info"] = b"SSH-2.0-OpenSSH\r\n"
    with pytest.raises(EngineError) as caught:
        EngineSocket(path).call("GET", "/info")
    assert caught.value.status == 0
    with pytest.raises(EngineError) as absent:
        EngineSocket(str(tmp_path / "absent.sock")).call("GET", "/info")
    assert absent.value.status == 0


def test_the_engine_maps_answers_to_podspawn_errors(
        engine: tuple[str, dict[str, bytes], list[bytes]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, replies, _ = engine
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    docker = DockerEngine()
    assert docker.inspect("gone") is None
    assert docker.image_id("missing:1") is None
    with pytest.raises(ImageUnavailable):
        docker.create(ContainerSpec(name="c", image="missing:1", labels={}))
    replies["/containers/c/start"] = (b"HTTP/1.0 500 Internal Server Error\r\n\r\n"
                                      b'{"message": "cannot start"}')
    with pytest.raises(RuntimeFailure, match="Docker refused to start container c: "
                                             "cannot start"):
        docker.start("c")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'absent.sock'}")
    with pytest.raises(RuntimeUnavailable, match="Docker is not running on the server"):
        DockerEngine().inspect("c")


def test_the_create_body_sends_only_what_is_set() -> None:
    bare = _create_body(ContainerSpec(name="c", image="img", labels={"k": "v"}, command=(),
                                      init=False))
    assert bare == {"Image": "img", "Labels": {"k": "v"}, "OpenStdin": False, "Tty": False,
                    "HostConfig": {"NetworkMode": "default"}}
    full = _create_body(ContainerSpec(
        name="c", image="img", labels={}, hostname="h", env={"A": "1"}, network="net",
        aliases=("db",), nano_cpus=2, memory=3, cap_drop=("ALL",), cap_add=("CHOWN",),
        security_opt=("no-new-privileges",), pids_limit=4, read_only=True,
        tmpfs={"/tmp": "size=1m"}, runtime="runsc", working_dir="/w",
        mounts=(Mount(target="/v", source="vol", type="volume", labels={"o": "1"}),),
        published=(PortPublish(host_ip="127.0.0.1", host_port=8080, container_port=80),)))
    assert full["Cmd"] == ["sleep", "infinity"]
    assert full["Env"] == ["A=1"] and full["Hostname"] == "h" and full["WorkingDir"] == "/w"
    assert full["ExposedPorts"] == {"80/tcp": {}}
    assert full["NetworkingConfig"] == {"EndpointsConfig": {"net": {"Aliases": ["db"]}}}
    assert full["HostConfig"] == {
        "NetworkMode": "net", "NanoCpus": 2, "Memory": 3, "CapDrop": ["ALL"],
        "CapAdd": ["CHOWN"], "SecurityOpt": ["no-new-privileges"], "PidsLimit": 4,
        "ReadonlyRootfs": True, "Tmpfs": {"/tmp": "size=1m"}, "Runtime": "runsc",
        "Init": True,
        "Mounts": [{"Target": "/v", "Source": "vol", "Type": "volume", "ReadOnly": False,
                    "VolumeOptions": {"Labels": {"o": "1"}}}],
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}}
    none = _create_body(ContainerSpec(name="c", image="img", labels={}, network="none"))
    assert "NetworkingConfig" not in none  # Podman refuses an endpoint on none


def test_an_engine_off_this_host_is_reached_through_the_sdk(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``DOCKER_HOST=tcp://...`` has no socket to speak to: the same calls go through the
    SDK's session, with the same answers and errors."""
    import http.server
    import json
    import threading

    class Engine(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers = {"/version": (200, {"ApiVersion": "1.41"}),
                       "/v1.41/containers/up/json": (200, {
                           "Id": "abc", "Name": "/up", "State": {"Status": "running"},
                           "Config": {"Labels": {"k": "v"}, "Image": "img"}})}
            status, body = answers.get(self.path, (404, {"message": "no such container"}))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.server_address[1]}")
        docker = DockerEngine()
        found = docker.inspect("up")
        assert found is not None and (found.id, found.running, found.labels) == (
            "abc", True, {"k": "v"})
        assert docker.inspect("gone") is None
    finally:
        server.shutdown()
        server.server_close()
