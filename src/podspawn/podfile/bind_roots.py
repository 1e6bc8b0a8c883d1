"""Which host paths a repository's files may bind-mount: the admin's allowed roots,
compared as text (the Podfile policy and the Compose importer share it)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["bind_parts"]


def bind_parts(source: str, roots: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    """The allowed root that holds the host path ``source`` and the components below it, or
    None when no root does.

    Pure: compared component by component (so ``/srv/share`` does not hold
    ``/srv/shared/x``), with empty and ``.`` components dropped. A ``..`` anywhere never
    matches, whatever the roots.
    """
    want = [part for part in source.split("/") if part not in ("", ".")]
    if ".." in want:
        return None
    for root in roots:
        base = [part for part in root.split("/") if part not in ("", ".")]
        if ".." not in base and want[: len(base)] == base:
            return root, tuple(want[len(base):])
    return None
