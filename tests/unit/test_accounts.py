"""services/accounts: reading ``sudo -ll -U`` without counting podspawn's own spawn rule."""

from __future__ import annotations

from podspawn.services.accounts import _other_commands

OURS = frozenset({"/opt/podspawn/bin/podspawn --config /etc/podspawn/config.yaml spawn"})
HEAD = "Matching Defaults entries for bob on vm:\n    env_reset\n\n" \
       "User bob may run the following commands on vm:\n\n"
SPAWN_ENTRY = ("Sudoers entry:\n    RunAsUsers: root\n    Options: !authenticate\n"
               "    Commands:\n\t/opt/podspawn/bin/podspawn --config /etc/podspawn/config.yaml"
               " spawn\n")


def test_no_rights_at_all() -> None:
    assert _other_commands("User bob is not allowed to run sudo on vm.\n", OURS) == []


def test_the_spawn_rule_alone_is_no_right_of_its_own() -> None:
    assert _other_commands(HEAD + SPAWN_ENTRY, OURS) == []


def test_any_other_rule_counts_with_its_command() -> None:
    listing = (HEAD + SPAWN_ENTRY + "\nSudoers entry: /etc/sudoers.d/bob:1\n"
               "    RunAsUsers: ALL\n    RunAsGroups: ALL\n    Commands:\n\tALL\n")
    assert _other_commands(listing, OURS) == ["ALL"]


def test_several_commands_in_one_entry() -> None:
    listing = (HEAD + "LDAP Role: devs\n    RunAsUsers: root\n    Commands:\n"
               "\t/usr/bin/id\n\t/usr/bin/apt-get  update\n")
    assert _other_commands(listing, OURS) == ["/usr/bin/id", "/usr/bin/apt-get update"]


def test_a_spawn_command_no_drop_in_grants_counts() -> None:
    listing = HEAD + SPAWN_ENTRY.replace("/etc/podspawn/config.yaml", "/tmp/evil.yaml")
    assert _other_commands(listing, OURS) == [
        "/opt/podspawn/bin/podspawn --config /tmp/evil.yaml spawn"]


def test_a_listing_it_cannot_read_refuses() -> None:
    listing = HEAD + "    (ALL : ALL) ALL\n"
    assert _other_commands(listing, OURS) != []
