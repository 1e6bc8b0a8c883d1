"""``Record``: an immutable slotted value class that costs nothing to import.

State rows, login requests, client config entries and runtime facts all sit on paths paid on
every SSH connection, where ``dataclasses`` (about 12 ms with ``inspect``) and ``typing``
(about 3 ms) would be too dear. ``Record`` gives a subclass keyword construction, defaults,
equality, a repr and ``replace`` from its ``__slots__`` alone.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs every login about 3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Self

#: An empty mapping to share as a default; never mutated.
EMPTY: dict[str, object] = {}


class Record:
    """Fields are the class's ``__slots__``, set once; ``_defaults`` holds the optional ones."""

    __slots__: tuple[str, ...] = ()
    _defaults: Mapping[str, Any] = EMPTY

    def __init__(self, *args: Any, **values: Any) -> None:
        if len(args) > len(self.__slots__):
            raise TypeError(f"{type(self).__name__} takes {len(self.__slots__)} fields")
        for name, value in zip(self.__slots__, args, strict=False):
            if name in values:
                raise TypeError(f"{type(self).__name__} got {name} twice")
            values[name] = value
        for name in self.__slots__:
            if name in values:
                value = values.pop(name)
            elif name in self._defaults:
                value = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__} needs {name}")
            object.__setattr__(self, name, value)
        if values:
            raise TypeError(f"{type(self).__name__} has no field {sorted(values)[0]}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore[attr-defined,unused-ignore]

    def __hash__(self) -> int:
        return hash(tuple(repr(v) for v in self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"

    def replace(self, **changes: Any) -> Self:
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)
