"""names.py as a table of good and hostile inputs (kubespawner's test_slugs.py)."""

from __future__ import annotations

import hashlib
import itertools
import re

import pytest

from podspawn.errors import InvalidName, UsageError
from podspawn.names import (
    container_name,
    is_valid_user,
    lock_file_name,
    network_name,
    project_from_host,
    service_container_name,
    session_base,
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
    assert session_base(user, project) == expected
    assert container_name(user, project) == expected
    assert network_name(user, project) == expected + "-net"


@pytest.mark.parametrize(
    ("user", "project"),
    [(u, "") for u in BAD_USERS] + [("alice", p) for p in BAD_PROJECTS if p],
)
def test_resource_names_refuse_hostile_parts(user: str, project: str) -> None:
    for derive in (session_base, container_name, network_name):
        with pytest.raises(InvalidName):
            derive(user, project)


@pytest.mark.parametrize("service", BAD_SERVICES)
def test_service_container_name_refuses_hostile_service(service: str) -> None:
    with pytest.raises(InvalidName):
        service_container_name("alice", "api", service)


@pytest.mark.parametrize("user", BAD_USERS)
def test_lock_file_name_refuses_hostile_user(user: str) -> None:
    with pytest.raises(InvalidName):
        lock_file_name(user)


def test_lock_file_name() -> None:
    assert lock_file_name("alice") == "alice.lock"


def test_dash_in_user_cannot_be_mistaken_for_a_project() -> None:
    assert container_name("a-b") != container_name("a", "b")
    assert network_name("a-b") != network_name("a", "b")
    assert container_name("a-b", "c") != container_name("a", "b-c")
    assert container_name("a-b-c") != container_name("a-b", "c")
    assert container_name("a-b-c") != container_name("a", "b-c")


def _forged_project(victim_user: str, victim_project: str = "") -> str:
    """A project name chosen so the plain name of (user, project) spells the victim's name."""
    victim = container_name(victim_user, victim_project)
    return victim.removeprefix("podspawn-").split("-", 1)[1]


def test_a_project_name_cannot_forge_another_users_hashed_name() -> None:
    """User ``a`` picks a project so that ``podspawn-a-<project>`` spells ``a-b``'s name.

    The project is whatever the client sends at login, and a hash of known inputs is no
    secret, so the hashed form must be unreachable by any plain user/project pair.
    """
    forged = _forged_project("a-b")
    try:
        validate_project(forged)
    except InvalidName:
        return  # the hashed name is not a project name, which is the point
    assert container_name("a", forged) != container_name("a-b")
    assert network_name("a", forged) != network_name("a-b")


def test_a_project_name_cannot_forge_a_truncated_name() -> None:
    victim = ("v" * 32, "p" * 40)
    forged = _forged_project(*victim)
    try:
        validate_project(forged)
    except InvalidName:
        return
    assert container_name("v" * 32, forged) != container_name(*victim)


_USERS = ["a", "b", "a-b", "a_b", "ab", "a-b-c", "x" * 32, "x" * 31 + "-", "_", "b-c"]
_PROJECTS = ["", "b", "c", "b-c", "c-d", "net", "x" * 40, "x" * 39 + "y", "y" * 40]


def test_distinct_pairs_give_distinct_names() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for pair in itertools.product(_USERS, _PROJECTS):
        name = container_name(*pair)
        assert name not in seen, f"{pair} and {seen[name]} both give {name}"
        seen[name] = pair


@pytest.mark.parametrize(("user", "project"), list(itertools.product(_USERS, _PROJECTS)))
def test_names_stay_within_a_hostname(user: str, project: str) -> None:
    name = container_name(user, project)
    assert len(name) <= 63
    assert name == session_base(user, project)
    assert network_name(user, project) == name + "-net"
    # what Docker accepts as a container name, and a name it cannot mistake for an id prefix
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
    assert name.startswith("podspawn-")
    # deterministic: the next login finds the same container
    assert container_name(user, project) == name


def test_longest_inputs_are_hashed_to_exactly_63() -> None:
    name = container_name("x" * 32, "y" * 40)
    assert len(name) == 63
    assert name.startswith("podspawn-" + "x" * 32 + "-yyy")


def test_long_names_differing_only_past_the_cut_stay_distinct() -> None:
    assert container_name("x" * 32, "y" * 39 + "a") != container_name("x" * 32, "y" * 39 + "b")


def test_hash_covers_user_and_project_separately() -> None:
    digest_ab = hashlib.sha256(b"a-b\0").hexdigest()[:8]
    assert digest_ab in container_name("a-b")


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
