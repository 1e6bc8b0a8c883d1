"""The order Features install in: the spec's round-based sort.

Each Feature is a node. ``dependsOn`` gives hard edges (the dependency is installed, found
or fetched, before); ``installsAfter`` gives soft edges, kept only towards Features that are
installed anyway. Rounds: every node whose edges all point into the installed list is ready;
of the ready nodes only those of the highest ``roundPriority`` are committed (the others wait
for a later round), sorted by the spec's stable order (id, then older tag first with
``latest`` newest, then more user options first, their keys, their values, then the
canonical name). ``overrideFeatureInstallOrder`` gives the i-th of its n ids priority
``n - i``, so it pulls a Feature forward as soon as its dependencies allow, and never past
them. A round that commits nothing means a cycle, refused naming the Features left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from podspawn.errors import PodfileError


@dataclass(frozen=True, slots=True)
class Node:
    key: str
    """Identity (Feature equality): the same content run with the same options."""
    id: str
    """Without version, lowercase: what installsAfter and the override name."""
    tag: str = "latest"
    options: Mapping[str, str | bool] = field(default_factory=dict)
    """The options given by the user or a dependsOn (defaults left out)."""
    canonical: str = ""
    aliases: tuple[str, ...] = ()
    """Other ids that name this Feature (its ``legacyIds``, with the id's namespace)."""
    depends_on: tuple[str, ...] = ()
    """Keys of the nodes it needs."""
    installs_after: tuple[str, ...] = ()
    """Ids (no version) it installs after, when they are installed at all."""


_NUMBER = re.compile(r"\d+")


def _tag_key(tag: str) -> tuple[int, tuple[int, ...], str]:
    if tag in ("", "latest"):
        return (1, (), "")
    if tag.startswith("sha256:"):
        return (0, (), tag)
    return (0, tuple(int(part) for part in _NUMBER.findall(tag)), tag)


def _stable_key(node: Node) -> tuple[object, ...]:
    options = sorted((name, str(value).lower() if isinstance(value, bool) else value)
                     for name, value in node.options.items())
    return (node.id, _tag_key(node.tag), -len(options), [name for name, _ in options],
            [value for _, value in options], node.canonical)


def install_order(nodes: Sequence[Node], override: Sequence[str] = ()) -> list[Node]:
    """``nodes`` in installation order.

    Raises:
        PodfileError: a dependsOn names no node, the override names a Feature that is not
            installed, or the edges form a cycle.
    """
    by_key = {node.key: node for node in nodes}
    names: dict[str, list[str]] = {}
    for node in nodes:
        for ident in (node.id, *node.aliases):
            names.setdefault(ident, []).append(node.key)
    needs: dict[str, set[str]] = {}
    for node in nodes:
        missing = [dep for dep in node.depends_on if dep not in by_key]
        if missing:
            raise PodfileError(f"feature {node.id!r} depends on {missing[0]!r}, which could "
                               "not be resolved")
        soft = {key for ident in node.installs_after for key in names.get(ident, ())}
        needs[node.key] = (set(node.depends_on) | soft) - {node.key}
    priority = {node.key: 0 for node in nodes}
    for index, ident in enumerate(override):
        if ident not in names:
            raise PodfileError(f"overrideFeatureInstallOrder names {ident!r}, which is not "
                               "among the features installed; remove it or add the feature")
        for key in names[ident]:
            priority[key] = max(priority[key], len(override) - index)

    order: list[Node] = []
    done: set[str] = set()
    work = [node.key for node in nodes]
    while work:
        ready = [key for key in work if needs[key] <= done]
        if not ready:
            left = ", ".join(sorted({by_key[key].id for key in work}))
            raise PodfileError(f"features {left} depend on each other in a cycle "
                               "(dependsOn/installsAfter); break the cycle")
        top = max(priority[key] for key in ready)
        round_ = sorted((by_key[key] for key in ready if priority[key] == top),
                        key=_stable_key)
        order.extend(round_)
        done.update(node.key for node in round_)
        work = [key for key in work if key not in done]
    return order
