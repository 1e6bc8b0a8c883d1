"""The packet-filter policy as text: pure rendering, parsing and comparison, no I/O.

One installation owns five chains per address family, all named by ``names.chain_name``
(``PODSPAWN-<kind>-<tag>``), and one jump into each of two hooks:

* ``INPUT`` -> ``IN``: traffic to the host itself. Each session bridge pattern (``psp<tag>+``
  and the bridges of sessions made by an earlier release) goes to ``HOST``, which lets
  replies to host-initiated connections through (readiness probes, ``docker exec``-free
  checks) and, on Podman, DNS to the bridge's resolver, and rejects everything else.
* ``DOCKER-USER`` -> ``FWD``: traffic the host routes for a container. Each bridge pattern
  goes to ``OUT``: link-local (169.254.0.0/16, cloud metadata) and DNAT'd traffic (ports
  the host publishes) are rejected; traffic to the same kind of bridge returns, so Docker's
  own isolation chains decide it (a session's companions stay reachable, other sessions do
  not); then ``security.egress`` returns for each allowed network and rejects the rest.
* ``REJ`` rejects fast: a TCP reset, or an ICMP "administratively prohibited".

The chains never ACCEPT, so traffic they let through meets Docker's rules unchanged, and
several installations on one host compose: a packet must pass every policy it meets.
``IN``'s first rule is a comment carrying a digest of the whole family's policy, so a check
notices a missing, stale or hand-edited policy without comparing iptables' canonical text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from podspawn.names import CHAIN_KINDS, bridge_prefix, chain_name

#: Docker's chain for the admin's own forwarding rules, evaluated before its own.
DOCKER_USER = "DOCKER-USER"
_MARK = "podspawn policy "


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    version: int
    tool: str
    """The iptables command of this family; ``-save`` and ``-restore`` are appended."""
    reject: str
    never: tuple[str, ...]
    """Destinations no container may reach through the host, whatever egress allows."""
    ndp: bool = False
    """IPv6 neighbour discovery must reach the host, or the bridge's IPv6 breaks."""


IPV4 = Family("ipv4", 4, "iptables", "icmp-admin-prohibited", ("169.254.0.0/16",))
IPV6 = Family("ipv6", 6, "ip6tables", "icmp6-adm-prohibited",
              ("fe80::/10", "fd00:ec2::254/128"), ndp=True)
FAMILIES = (IPV4, IPV6)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One family's policy of one installation, as ``iptables-save`` lines."""

    family: Family
    chains: tuple[str, ...]
    rules: tuple[str, ...]
    hooks: tuple[tuple[str, str], ...]
    """(chain we jump from, our chain): ``INPUT`` and the forward hook."""
    digest: str

    def count(self, chain: str) -> int:
        return sum(1 for rule in self.rules if rule.startswith(f"-A {chain} "))


@dataclass(frozen=True, slots=True)
class Table:
    """The ``filter`` table as ``iptables-save -t filter`` printed it."""

    chains: tuple[str, ...]
    rules: Mapping[str, tuple[str, ...]]
    """Per chain, each rule's text after ``-A <chain> ``, in order."""

    def of(self, chain: str) -> tuple[str, ...]:
        return self.rules.get(chain, ())


def parse_table(text: str) -> Table:
    """Read ``iptables-save -t filter`` output (any other table's lines are ignored)."""
    chains: list[str] = []
    rules: dict[str, list[str]] = {}
    in_filter = False
    for line in text.splitlines():
        if line.startswith("*"):
            in_filter = line == "*filter"
        elif not in_filter or line.startswith("#"):
            continue
        elif line.startswith(":"):
            name = line[1:].split(" ", 1)[0]
            chains.append(name)
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            chain, _, spec = line[3:].partition(" ")
            rules.setdefault(chain, []).append(spec)
    return Table(chains=tuple(chains), rules={k: tuple(v) for k, v in rules.items()})


def forward_hook(family: Family, table: Table) -> str:
    """Where forwarded traffic is caught: Docker's ``DOCKER-USER``, which Docker keeps first
    in ``FORWARD`` (it re-inserts the jump on start and for each network, so a jump of ours
    straight from ``FORWARD`` would sink below Docker's ACCEPT rules). IPv4 always uses it,
    creating it if Docker has not yet; IPv6 uses it when Docker manages ip6tables, otherwise
    ``FORWARD`` itself, where Docker adds nothing."""
    if family.version == 4 or DOCKER_USER in table.chains:
        return DOCKER_USER
    return "FORWARD"


def render(
    family: Family,
    *,
    install_id: str,
    egress: Iterable[str],
    legacy: Sequence[str] = (),
    hook: str = DOCKER_USER,
    bridge_dns: bool = False,
) -> Ruleset:
    """The policy of ``family`` for one installation.

    ``egress`` holds validated CIDRs (``config.schema.egress_network``); those of the other
    family are skipped. ``legacy`` lists bridges of sessions made before bridges were named
    (``br-<id>``), which get the same treatment as ``psp<tag>+``. ``bridge_dns`` lets DNS
    (port 53) reach the host, for an engine whose resolver of container names listens on
    each bridge's gateway (``runtime.RESOLVER_ON_BRIDGE``).
    """
    import ipaddress

    name = {kind: chain_name(kind, install_id) for kind in CHAIN_KINDS}
    bridges = [bridge_prefix(install_id) + "+", *sorted(set(legacy))]
    allowed = [str(net) for net in (ipaddress.ip_network(c) for c in egress)
               if net.version == family.version]
    host = [f"-A {name['HOST']} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"]
    if family.ndp:
        host += [f"-A {name['HOST']} -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN"
                 for t in ("neighbour-solicitation", "neighbour-advertisement")]
    if bridge_dns:
        host += [f"-A {name['HOST']} -p {proto} -m {proto} --dport 53 -j RETURN"
                 for proto in ("udp", "tcp")]
    host.append(f"-A {name['HOST']} -j {name['REJ']}")
    out = [f"-A {name['OUT']} -d {net} -j {name['REJ']}" for net in family.never]
    out.append(f"-A {name['OUT']} -m conntrack --ctstate DNAT --ctdir ORIGINAL "
               f"-j {name['REJ']}")
    out += [f"-A {name['OUT']} -o {bridge} -j RETURN" for bridge in bridges]
    out += [f"-A {name['OUT']} -d {net} -j RETURN" for net in allowed]
    out.append(f"-A {name['OUT']} -j {name['REJ']}")
    body = [
        *(f"-A {name['IN']} -i {bridge} -j {name['HOST']}" for bridge in bridges),
        *host,
        *(f"-A {name['FWD']} -i {bridge} -j {name['OUT']}" for bridge in bridges),
        *out,
        f"-A {name['REJ']} -p tcp -j REJECT --reject-with tcp-reset",
        f"-A {name['REJ']} -j REJECT --reject-with {family.reject}",
    ]
    hooks = (("INPUT", name["IN"]), (hook, name["FWD"]))
    digest = hashlib.sha256("\n".join([*body, *(f"{a}>{b}" for a, b in hooks)]).encode())
    short = digest.hexdigest()[:16]
    marker = f'-A {name["IN"]} -m comment --comment "{_MARK}{short}"'
    return Ruleset(family=family, chains=tuple(name[k] for k in CHAIN_KINDS),
                   rules=(marker, *body), hooks=hooks, digest=short)


def problems(ruleset: Ruleset, table: Table) -> list[str]:
    """What differs between the table and the policy; empty when it is in place."""
    found: list[str] = []
    for chain in ruleset.chains:
        if chain not in table.chains:
            found.append(f"chain {chain} is missing")
        elif len(table.of(chain)) != ruleset.count(chain):
            found.append(f"chain {chain} has {len(table.of(chain))} rules, "
                         f"not {ruleset.count(chain)}")
    first = ruleset.chains[0]
    if first in table.chains and not any(ruleset.digest in r for r in table.of(first)[:1]):
        found.append(f"chain {first} holds another policy than this config's")
    for hook, ours in ruleset.hooks:
        if not _hooked(table, hook, ours):
            found.append(f"{hook} does not jump to {ours} before every other rule")
    return found


def _hooked(table: Table, hook: str, ours: str) -> bool:
    rules = table.of(hook)
    jumps = [i for i, rule in enumerate(rules) if rule == f"-j {ours}"]
    return len(jumps) == 1 and all(r.startswith("-j PODSPAWN-") for r in rules[: jumps[0]])


def restore_script(ruleset: Ruleset, table: Table) -> str:
    """``iptables-restore --noflush`` input that replaces our chains' content and puts each
    jump first, touching no rule of anyone else. Declaring a chain flushes or creates it."""
    lines = ["*filter"]
    hooks = {hook for hook, _ in ruleset.hooks}
    if DOCKER_USER in hooks and DOCKER_USER not in table.chains:
        # Docker not started yet: make its chain as it would, and it will adopt it
        lines += [f":{DOCKER_USER} - [0:0]", f"-I FORWARD 1 -j {DOCKER_USER}"]
    lines += [f":{chain} - [0:0]" for chain in ruleset.chains]
    lines += ruleset.rules
    for hook, ours in ruleset.hooks:
        if not _hooked(table, hook, ours):
            lines += [f"-D {hook} -j {ours}"] * table.of(hook).count(f"-j {ours}")
            lines.append(f"-I {hook} 1 -j {ours}")
    return "\n".join([*lines, "COMMIT", ""])


def removal_script(install_id: str, table: Table) -> str:
    """Restore input that deletes this installation's chains and every jump into them; empty
    when none of them exists."""
    ours = [chain_name(kind, install_id) for kind in CHAIN_KINDS]
    present = [chain for chain in ours if chain in table.chains]
    if not present:
        return ""
    lines = ["*filter"]
    for chain in table.chains:
        if chain in ours:
            continue
        lines += [f"-D {chain} {rule}" for rule in table.of(chain)
                  if any(rule == f"-j {target}" for target in present)]
    lines += [f"-F {chain}" for chain in present]
    lines += [f"-X {chain}" for chain in present]
    return "\n".join([*lines, "COMMIT", ""])


def installed_legacy(install_id: str, table: Table) -> tuple[str, ...]:
    """The earlier-release bridges the installed policy covers, read back from ``IN``: what
    to keep covering while the engine cannot be asked."""
    inbound = chain_name("IN", install_id)
    prefix = bridge_prefix(install_id) + "+"
    found = []
    for rule in table.of(inbound):
        parts = rule.split()
        if len(parts) >= 2 and parts[0] == "-i" and parts[1] != prefix:
            found.append(parts[1])
    return tuple(found)
