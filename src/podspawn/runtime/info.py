"""What the engine says about one container; shared by the SDK backend and the login path.

A plain record (see ``podspawn.state.records``): the warm login path builds one from a raw
API answer and must not pay for ``dataclasses``.
"""

from __future__ import annotations

from podspawn.record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


class ContainerInfo(Record):
    __slots__ = ("id", "name", "state", "labels", "image", "created")
    _defaults: Mapping[str, Any] = {"image": "", "created": ""}
    id: str
    name: str
    state: str
    labels: Mapping[str, str]
    image: str
    created: str

    if TYPE_CHECKING:
        def __init__(self, *, id: str, name: str, state: str,
                     labels: Mapping[str, str], image: str = "", created: str = "") -> None: ...

    @property
    def running(self) -> bool:
        return self.state == "running"
