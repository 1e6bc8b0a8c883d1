"""names.py as a table of good and hostile inputs (kubespawner's test_slugs.py)."""

from __future__ import annotations

import itertools
import re

import pytest

from podspawn.errors import InvalidName, UsageError
from podspawn.names import (
    container_name,
    hostname,
    image_name,
    is_valid_user,
    lock_name,
    network_name,
    project_from_host,
    resource_name,
    service_container_name,
    validate_project,
    validate_service,
    validate_user,
)

#: Inputs no name may ever be: each would be reinterpreted by a path, a shell, sshd or Docker.
HOSTILE = [
    "",
    " ",
    "/",
    "a/b",
    "../x",
    "..",
    ".",
    "a..b",
    "a b",
    " a",
    "a ",
    "$x",
    "a$b",
    "a;b",
    "a|b",
    "a&b",
    "a`id`",
    "$(id)",
    "'a'",
    '"a"',
    "a'b",
    "a\\b",
    "a*",
    "a?",
    "a:b",
    "a@b",
    "a=b",
    "a,b",
    "a\n",
    "\na",
    "a\nb",
    "a\rb",
    "a\tb",
    "a\x00b",
    "-a",
    "--help",
    "A",
    "Alice",
    "aLICE",
    "é",
    "alicé",
    "\uff41",  # fullwidth a
    "a\u200bb",  # zero-width space
    "\u212a",  # Kelvin sign, lower-cases to ASCII k
    "\u0661",  # Arabic-Indic digit one
]

GOOD_USERS = ["a", "_", "alice", "_svc", "a-b", "a_b", "a1", "bob-2", "x" * 32, "a" + "-" * 31]
BAD_USERS = [*HOSTILE, "1abc", "9", "a.b", "x" * 33, "alice.pod"]

GOOD_PROJECTS = ["a", "1", "api", "a-b", "a1", "1a", "web-app-2", "x" * 40, "a" + "-" * 38 + "b"]
BAD_PROJECTS = [*HOSTILE, "a-", "a_b", "_a", "a.b", "api.pod", "x" * 41]

GOOD_SERVICES = ["a", "db", "redis-7", "my_db", "a_b-c", "1", "x" * 40]
BAD_SERVICES = [*HOSTILE, "_db", "db_", "db-", "a.b", "x" * 41]


@pytest.mark.parametrize("name", GOOD_USERS)
def test_validate_user_accepts(name: str) -> None:
    assert validate_user(name) == name
    assert is_valid_user(name)


@pytest.mark.parametrize("name", BAD_USERS)
def test_validate_user_refuses(name: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_user(name)
    assert not is_valid_user(name)
    # a usage error (exit 2) that callers catching ValueError also see
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, ValueError)
    assert info.value.message.startswith("invalid user name ")
    assert "\n" not in info.value.message


@pytest.mark.parametrize("value", [None, 5, b"alice", ["alice"]])
def test_validate_user_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidName):
        validate_user(value)  # type: ignore[arg-type]
    assert not is_valid_user(value)  # type: ignore[arg-type]


def test_invalid_name_message_shows_a_long_name_shortened() -> None:
    with pytest.raises(InvalidName) as info:
        validate_user("x" * 500)
    assert "x" * 50 not in info.value.message
    assert len(info.value.message) < 200


@pytest.mark.parametrize("name", GOOD_PROJECTS)
def test_validate_project_accepts(name: str) -> None:
    assert validate_project(name) == name


@pytest.mark.parametrize("name", BAD_PROJECTS)
def test_validate_project_refuses(name: str) -> None:
    with pytest.raises(InvalidName, match=r"^invalid project name "):
        validate_project(name)


@pytest.mark.parametrize("name", GOOD_SERVICES)
def test_validate_service_accepts(name: str) -> None:
    assert validate_service(name) == name


@pytest.mark.parametrize("name", BAD_SERVICES)
def test_validate_service_refuses(name: str) -> None:
    with pytest.raises(InvalidName, match=r"^invalid service name "):
        validate_service(name)


_FOLDED = {"A", "Alice", "aLICE", " a", "a ", "a\n", "\na", "\u212a"}


@pytest.mark.parametrize(
    ("sent", "project"),
    [
        ("api", "api"),
        ("api.pod", "api"),
        ("API.pod", "api"),
        ("Api.POD", "api"),
        ("  api.pod  ", "api"),
        ("web-2.pod", "web-2"),
        ("x" * 40 + ".pod", "x" * 40),
        # the client's text is stripped and case-folded before it is validated
        *[(s, s.strip().lower()) for s in ("A", "Alice", "aLICE", " a", "a ", "a\n", "\na")],
        ("\u212a", "k"),
    ],
)
def test_project_from_host(sent: str, project: str) -> None:
    assert project_from_host(sent) == project


@pytest.mark.parametrize(
    "sent",
    [
        *[h for h in HOSTILE if h not in _FOLDED],
        ".pod",
        "pod.pod.pod",
        "api.pod.pod",
        "a.b.pod",
        "../etc.pod",
        "a/b.pod",
        "a_b.pod",
        "-a.pod",
        "x" * 41 + ".pod",
        "api.example.com",
    ],
)
def test_project_from_host_refuses(sent: str) -> None:
    with pytest.raises(InvalidName):
        project_from_host(sent)


@pytest.mark.parametrize("sent", HOSTILE)
def test_project_from_host_only_returns_valid_names(sent: str) -> None:
    """Whatever case folding does to an input, what comes out is a plain project name."""
    try:
        result = project_from_host(sent)
    except InvalidName:
        return
    assert re.fullmatch(r"[a-z0-9-]{1,40}", result)


@pytest.mark.parametrize(
    ("user", "project", "expected"),
    [
        ("alice", "", "podspawn-alice"),
        ("alice", "api", "podspawn-alice-api"),
        ("a_b", "", "podspawn-a_b"),
        ("a", "b-c", "podspawn-a-b-c"),
        ("x" * 32, "", "podspawn-" + "x" * 32),
    ],
)
def test_names_of_plain_users_match_the_go_implementation(
    user: str, project: str, expected: str
) -> None:
    assert container_name(user, project) == expected
    assert resource_name("session", user, project) == expected
    assert hostname(user, project) == expected


@pytest.mark.parametrize(
    ("kind", "user", "project", "part", "expected"),
    [
        ("session", "a-b", "", "", "podspawn-session.a-b"),
        ("session", "a-b", "c", "", "podspawn-session.a-b.c"),
        ("network", "alice", "", "", "podspawn-network.alice"),
        ("network", "alice", "api", "", "podspawn-network.alice.api"),
        ("service", "alice", "api", "db", "podspawn-service.alice.api.db"),
        ("volume", "alice", "api", "pg.data", "podspawn-volume.alice.api.pg.data"),
        ("workspace", "alice", "api", "", "podspawn-workspace.alice.api"),
    ],
)
def test_other_names_spell_their_kind(kind, user, project, part, expected):
    assert resource_name(kind, user, project, part) == expected


@pytest.mark.parametrize(
    ("user", "project"),
    [(u, "") for u in BAD_USERS] + [("alice", p) for p in BAD_PROJECTS if p],
)
def test_resource_names_refuse_hostile_parts(user: str, project: str) -> None:
    for derive in (container_name, network_name, hostname):
        with pytest.raises(InvalidName):
            derive(user, project)


@pytest.mark.parametrize("service", BAD_SERVICES)
def test_service_container_name_refuses_hostile_service(service: str) -> None:
    with pytest.raises(InvalidName):
        service_container_name("alice", "api", service)


@pytest.mark.parametrize(
    ("kind", "user", "project", "part"),
    [
        ("container", "alice", "", ""),  # not a kind
        ("service", "alice", "", "db"),  # a service needs its project
        ("service", "alice", "api", ""),  # ... and its name
        ("volume", "alice", "api", ""),
        ("volume", "alice", "api", "../x"),
        ("volume", "alice", "api", "a/b"),
        ("volume", "alice", "api", ".hidden"),
        ("volume", "alice", "api", "x" * 65),
        ("session", "alice", "api", "db"),  # a session has no part
        ("network", "alice", "", "x"),
    ],
)
def test_resource_name_refuses_malformed_tuples(kind, user, project, part):
    with pytest.raises(InvalidName):
        resource_name(kind, user, project, part)


@pytest.mark.parametrize("user", BAD_USERS)
def test_lock_file_name_refuses_hostile_user(user: str) -> None:
    with pytest.raises(InvalidName):
        lock_name("user", user)


def test_lock_names() -> None:
    assert lock_name("user", "alice") == "user.alice.lock"
    assert lock_name("image", "0123456789ab") == "image.0123456789ab.lock"
    assert lock_name("build", "api") == "build.api.lock"
    # a user named like an image lock still gets a lock of their own
    assert lock_name("user", "image-0123456789ab") != lock_name("image", "0123456789ab")
    for kind, key in (("image", "../x"), ("image", ""), ("build", "a_b"), ("other", "a")):
        with pytest.raises(InvalidName):
            lock_name(kind, key)


def test_image_names() -> None:
    digest = "0123456789ab"
    assert image_name("project", digest, "api") == "podspawn/api:podfile-0123456789ab"
    assert image_name("layer", digest) == "podspawn/base:0123456789ab"
    # a project called "base" cannot meet a layer image
    assert image_name("project", digest, "base") != image_name("layer", digest)
    for bad in ("0123", "0123456789AB", "0123456789ag", ":latest0000"):
        with pytest.raises(InvalidName):
            image_name("layer", bad)
    with pytest.raises(InvalidName):
        image_name("layer", digest, "api")


def test_the_reported_collisions_are_gone() -> None:
    # a project whose name ends like a service used to spell that service's container
    assert container_name("alice", "api-db") != service_container_name("alice", "api", "db")
    # a service named like a hashed session name used to take another user's container name
    for service in ("api_h219aa3ee", "api", "ops-api"):
        for victim in (("dev-ops", "api"), ("dev-ops", ""), ("dev", "ops-api")):
            assert service_container_name("dev", "ops", service) != container_name(*victim)


def test_dash_in_user_cannot_be_mistaken_for_a_project() -> None:
    assert container_name("a-b") != container_name("a", "b")
    assert network_name("a-b") != network_name("a", "b")
    assert container_name("a-b", "c") != container_name("a", "b-c")
    assert container_name("a-b-c") != container_name("a-b", "c")
    assert container_name("a-b-c") != container_name("a", "b-c")


#: Tuples chosen to spell each other's names under any join with "-", "_" or a suffix.
_USERS = ["a", "b", "a-b", "a_b", "ab", "a-b-c", "x" * 32, "x" * 31 + "-", "_", "b-c", "dev",
          "dev-ops", "a_h0", "net", "service", "session", "alice"]
_PROJECTS = ["", "b", "c", "b-c", "c-d", "net", "ops", "api", "ops-api", "api-db", "x" * 40,
             "x" * 39 + "y", "y" * 40, "h219aa3ee", "session", "db"]
_PARTS = ["db", "api", "api_h219aa3ee", "net", "a-b", "a_b", "c", "x" * 40, "b-c", "session"]
_VOLUME_PARTS = [*_PARTS, "pg.data", "a.b.c", "c.d", "A", "data."]


def _all_tuples() -> list[tuple[str, str, str, str]]:
    tuples = []
    for user, project in itertools.product(_USERS, _PROJECTS):
        tuples += [("session", user, project, ""), ("network", user, project, "")]
        if project:
            tuples.append(("workspace", user, project, ""))
            tuples += [("service", user, project, part) for part in _PARTS]
            tuples += [("volume", user, project, part) for part in _VOLUME_PARTS]
    return tuples


def test_no_two_tuples_share_a_name_across_kinds_and_users() -> None:
    seen: dict[str, tuple[str, str, str, str]] = {}
    tuples = _all_tuples()
    assert len(tuples) > 4000
    for parts in tuples:
        name = resource_name(*parts)
        assert name not in seen, f"{parts} and {seen[name]} both give {name}"
        seen[name] = parts
        # what Docker accepts as a container, network and volume name
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name)
        assert name.startswith("podspawn-")
        assert resource_name(*parts) == name  # deterministic: the next login finds it


def test_names_decode_back_to_their_tuple() -> None:
    """The injectivity argument of resource_name's docstring, checked by decoding."""

    def decode(name: str) -> tuple[str, str, str, str]:
        body = name.removeprefix("podspawn-")
        if "." not in body:
            user, _, project = body.partition("-")
            return ("session", user, project, "")
        fields = body.split(".", 3)
        return tuple(fields + [""] * (4 - len(fields)))  # type: ignore[return-value]

    for parts in _all_tuples():
        assert decode(resource_name(*parts)) == parts


@pytest.mark.parametrize(("user", "project"), list(itertools.product(_USERS, _PROJECTS)))
def test_hostnames_stay_within_63(user: str, project: str) -> None:
    name = hostname(user, project)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9_][a-z0-9_-]*[a-z0-9_]", name)


HOSTILE_AND_PLAIN = [
    "", "a", "_", "-", "a-", "-a", "a_b", "a-b", "A", "aB", "1a", "a1", "a" * 32, "a" * 33,
    "a" * 40, "a" * 41, "../x", "a/b", "a b", "a\nb", "a.b", "$(x)", "é", "a;b", "0", "9x",
    "x_", "x-", "_x", "api", "node-api", "my_svc", "a\x00", " a", "a ",
]


@pytest.mark.parametrize("value", HOSTILE_AND_PLAIN)
def test_string_checks_agree_with_the_documented_patterns(value):
    import re

    from podspawn import names

    for pattern, check in (
        (names.USER_PATTERN, names.is_valid_user),
        (names.PROJECT_PATTERN, names._project_ok),
        (names.SERVICE_PATTERN, names._service_ok),
    ):
        assert check(value) == (re.fullmatch(pattern, value) is not None), (pattern, value)


# -- bridge interfaces and packet-filter chains (services.firewall) -------------------------

def test_bridge_names_fit_linux_and_carry_the_installation_prefix() -> None:
    from podspawn.names import MAX_IFNAME, bridge_name, bridge_prefix

    iid = "0123456789ab"
    names = {bridge_name(iid, network_name(f"u{i}", "api")) for i in range(2000)}
    assert len(names) == 2000  # no collision among 2000 networks of one installation
    prefix = bridge_prefix(iid)
    assert len(prefix) == 7 and prefix.startswith("psp")
    for name in names:
        assert len(name) == MAX_IFNAME
        assert name.startswith(prefix)
        assert re.fullmatch(r"psp[0-9a-f]{12}", name)


def test_bridge_names_are_stable_and_differ_between_installations() -> None:
    from podspawn.names import bridge_name, bridge_prefix

    net = network_name("sarah", "api")
    assert bridge_name("aaaaaaaaaaaa", net) == bridge_name("aaaaaaaaaaaa", net)
    assert bridge_prefix("aaaaaaaaaaaa") != bridge_prefix("bbbbbbbbbbbb")
    assert bridge_name("aaaaaaaaaaaa", net) != bridge_name("bbbbbbbbbbbb", net)
    # the derivation is fixed: a bridge made by one release is matched by the next
    assert bridge_name("0123456789ab", "podspawn-network.sarah.api") == "psp648deedca21a"


def test_bridge_and_chain_names_refuse_empty_inputs() -> None:
    from podspawn.names import bridge_name, chain_name

    for bad in (("", "podspawn-network.a"), ("0123456789ab", "")):
        with pytest.raises(InvalidName):
            bridge_name(*bad)
    with pytest.raises(InvalidName):
        chain_name("IN", "")
    with pytest.raises(InvalidName):
        chain_name("ACCEPT", "0123456789ab")


def test_chain_names_fit_iptables_and_share_the_bridge_tag() -> None:
    from podspawn.names import CHAIN_KINDS, bridge_prefix, chain_name

    iid = "0123456789ab"
    tag = bridge_prefix(iid)[3:]
    for kind in CHAIN_KINDS:
        name = chain_name(kind, iid)
        assert name == f"PODSPAWN-{kind}-{tag}"
        assert len(name) <= 28  # iptables' limit on a chain name


def test_firewall_lock_is_keyed_by_hex_tag() -> None:
    assert lock_name("firewall", "ab12") == "firewall.ab12.lock"
    with pytest.raises(InvalidName):
        lock_name("firewall", "../x")


def test_check_container_names_meet_no_resource_name() -> None:
    from podspawn.names import CHECK_KIND, RESOURCE_KINDS, check_container_name

    assert CHECK_KIND not in RESOURCE_KINDS
    name = check_container_name("0123456789ab")
    assert name == "podspawn-check.0123456789ab"
    assert name not in {resource_name(*parts) for parts in _all_tuples()}
    for bad in ["", "abc", "0123456789aB", "../../x123", "0123456789ab.x", "g" * 12, "a" * 33]:
        with pytest.raises(InvalidName):
            check_container_name(bad)
