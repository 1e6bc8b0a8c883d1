"""The banner ``podspawn dev`` prints, rendered from plain data."""

from __future__ import annotations

from podspawn.cli.local import banner_lines
from podspawn.services.local.ports import PortChoice
from podspawn.services.local.sessions import Banner


def test_banner_lists_everything_and_says_which_port_moved():
    banner = Banner(name="api-1a2b", base="ubuntu:24.04",
                    packages=("a", "b", "c", "d", "e", "f"),
                    services=(("postgres", (5432,)), ("worker", ())),
                    ports=(PortChoice(3000, 3000), PortChoice(8080, 8081)),
                    mount=("/home/u/src/api", "/workspace/api"), mount_mode="bind",
                    reattached=False,
                    started_at=0.0)
    assert banner_lines(banner, "/home/u") == [
        "api-1a2b | ubuntu:24.04",
        "  packages: a, b, c, d, e, ...",
        "  services: postgres (:5432), worker",
        "  ports: 127.0.0.1:3000 -> :3000",
        "  ports: 127.0.0.1:8081 -> :8080 (8080 was busy)",
        "  mount: ~/src/api -> /workspace/api",
        "Run 'podspawn down' to stop.",
    ]


def test_reattach_is_one_line():
    banner = Banner(name="x-0000", base="b", packages=(), services=(), ports=(), mount=None,
                    mount_mode="none", reattached=True, started_at=0.0)
    lines = banner_lines(banner, "/home/u")
    assert len(lines) == 1 and lines[0].startswith("Re-attaching to x-0000 (started ")


def test_a_copied_checkout_says_so():
    banner = Banner(name="x-0000", base="b", packages=(), services=(), ports=(),
                    mount=("/home/u/x", "/workspace/x"), mount_mode="copy", reattached=False,
                    started_at=0.0)
    assert "  mount: copy of ~/x -> /workspace/x" in banner_lines(banner, "/home/u")
