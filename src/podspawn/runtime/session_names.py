"""Names and owner labels of one session's engine objects, for every backend that makes
containers (Docker, Podman and the tests' fake): a (user, project) session's come from
``podspawn.names``, a warm-pool slot's from the slot (``SessionSpec.pool``), and a user
who claimed a slot keeps mounting that slot's volumes (``SessionSpec.volumes_from``).
"""

from __future__ import annotations

from podspawn import labels, names
from podspawn.runtime.spec import SessionSpec


def spec_owner(spec: SessionSpec) -> dict[str, str]:
    """The owner labels of ``spec``'s session objects: its (user, project), or for a
    warm-pool session its slot (``spec.pool``)."""
    if spec.pool:
        return labels.pool_owner(spec.install_id, spec.project, spec.pool)
    return labels.owner(spec.install_id, spec.user, spec.project)


def volume_owner(spec: SessionSpec) -> dict[str, str]:
    """The owner labels of ``spec``'s volumes: a claimed slot's when it mounts one."""
    slot = spec.pool or spec.volumes_from
    if slot:
        return labels.pool_owner(spec.install_id, spec.project, slot)
    return labels.owner(spec.install_id, spec.user, spec.project)


def object_name(spec: SessionSpec, kind: str, part: str = "") -> str:
    """The engine name of one of ``spec``'s objects (``names`` makes every one of them)."""
    slot = spec.pool or (spec.volumes_from if kind in ("workspace", "volume") else "")
    if slot:
        return names.pool_resource(slot, kind, part)
    if kind == "workspace":
        return names.workspace_volume(spec.user, spec.project)
    return names.resource_name(kind, spec.user, spec.project, part)
