"""A stored Podfile read back as plain data, without pydantic.

``add-project`` and ``update-project`` validate a project's Podfile once and store the
result (``services.project_store``). A login only reads that file, and validating it again
would cost every cold project login the pydantic import and the model's class building
(about 0.1 s) to learn nothing new. So a stored Podfile whose fields are exactly the ones
this podspawn's models have (:data:`SHAPES`, which a unit test keeps equal to the models)
is read into :class:`Record` objects that answer the same attribute names as the models:
lists become tuples, and a field that holds a model becomes a record of its own. Any other
shape (a file written by another release, or edited) is validated by the model, as before.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the login path imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

    from podspawn.podfile.model import Podfile

#: Each model's fields: None for plain data, else the model the field holds (or a tuple of).
SHAPES: dict[str, dict[str, str | None]] = {
    "Podfile": {
        "base": None, "extends": None, "name": None, "packages": None, "shell": None,
        "env": None, "services": "Service", "on_create": None, "on_start": None,
        "ports": "Ports", "resources": "Resources", "repos": "Repo", "dotfiles": "Dotfiles",
        "extra_commands": None, "mount": None, "mode": None, "workspace": None,
        "branch": None, "image_user": None, "volumes": None, "cap_add": None,
        "extensions": None, "host_requirements": "HostRequirements",
    },
    "Service": {"name": None, "image": None, "ports": None, "env": None, "volumes": None,
                "command": None, "ready": None, "ready_timeout": None,
                "resources": "ServiceResources"},
    "ServiceResources": {"cpus": None, "memory": None},
    "Ports": {"expose": None, "strategy": None},
    "Resources": {"cpus": None, "memory": None},
    "Repo": {"url": None, "path": None, "branch": None},
    "Dotfiles": {"repo": None, "install": None},
    "HostRequirements": {"cpus": None, "memory": None, "storage": None, "gpu": None},
}


class Record:
    """One stored model's fields as attributes, read-only."""

    __slots__ = ("_model", "_fields")
    _model: str
    _fields: dict[str, object]

    def __init__(self, model: str, fields: Mapping[str, object]) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_fields", dict(fields))

    def __getattr__(self, name: str) -> object:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f"{self._model} has no field {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a stored {self._model} is read-only")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return (self._model, self._fields) == (other._model, other._fields)
        dump = getattr(other, "model_dump", None)  # the validated model it was read from
        return callable(dump) and type(other).__name__ == self._model and \
            dump(mode="json") == self.model_dump(mode="json")

    def __hash__(self) -> int:
        return hash(self._model)

    def __repr__(self) -> str:
        return f"{self._model}({self._fields!r})"

    def model_dump(self, *, mode: str = "json") -> dict[str, object]:
        """The stored JSON form again, as the model's ``model_dump(mode="json")`` gives it
        (the Podfile's content hash is computed over it)."""
        return {key: _dumped(value) for key, value in self._fields.items()}


def _dumped(value: object) -> object:
    if isinstance(value, Record):
        return value.model_dump()
    if isinstance(value, tuple):
        return [_dumped(v) for v in value]
    return value


def _record(model: str, data: Mapping[str, object]) -> Record | None:
    """``data`` as a record of ``model``, or None when its fields are not the model's."""
    shape = SHAPES[model]
    if set(data) != set(shape):
        return None
    fields: dict[str, object] = {}
    for key, stored in data.items():
        inner = shape[key]
        if inner is None:
            fields[key] = tuple(tuple(v) if isinstance(v, list) else v for v in stored) \
                if isinstance(stored, list) else stored
        elif isinstance(stored, list):
            items = [_record(inner, item) if isinstance(item, dict) else None
                     for item in stored]
            if None in items:
                return None
            fields[key] = tuple(items)
        elif isinstance(stored, dict):
            fields[key] = _record(inner, stored)
            if fields[key] is None:
                return None
        elif stored is None:
            fields[key] = None
        else:
            return None
    return Record(model, fields)


def stored_podfile(data: Mapping[str, object]) -> Podfile:
    """The Podfile ``model_dump(mode="json")`` wrote, read as the model it was: its fields,
    with the same names, types and nesting, and no validation when it has exactly this
    release's fields (it was validated when stored); else validated by the model.

    Raises:
        pydantic.ValidationError: a stored Podfile of another shape that is not valid.
    """
    read = _record("Podfile", data)
    if read is None:
        from podspawn.podfile.model import Podfile

        return Podfile.model_validate(data)
    podfile: Podfile = read  # type: ignore[assignment]  # the same fields, read-only
    return podfile
