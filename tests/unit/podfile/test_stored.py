"""A stored Podfile read without pydantic answers exactly what the validated model does."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
from pydantic import BaseModel

from podspawn.podfile import model
from podspawn.podfile.model import Podfile
from podspawn.podfile.stored import SHAPES, Record, stored_podfile


def _models_in(annotation: object) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.add(annotation)
    for arg in typing.get_args(annotation):
        found |= _models_in(arg)
    return found


def _declared(cls: type[BaseModel]) -> dict[str, dict[str, str | None]]:
    """Every model reachable from ``cls``: its fields, and the model each nested one holds."""
    table: dict[str, dict[str, str | None]] = {}
    todo = [cls]
    while todo:
        current = todo.pop()
        fields: dict[str, str | None] = {}
        for name, info in current.model_fields.items():
            inner = _models_in(info.annotation)
            fields[name] = None
            if inner:
                (target,) = inner
                fields[name] = target.__name__
                todo.append(target)
        table[current.__name__] = fields
    return table


def test_the_shapes_are_what_the_models_declare() -> None:
    assert _declared(Podfile) == SHAPES


def _as_data(value: object) -> object:
    if isinstance(value, BaseModel):
        return {k: _as_data(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, Record):
        return {k: _as_data(v) for k, v in value._fields.items()}
    if isinstance(value, tuple):
        return tuple(_as_data(v) for v in value)
    return value


RICH = {
    "base": "debian:bookworm", "packages": ["git", "nodejs@20"], "shell": "/bin/zsh",
    "env": {"A": "1", "HOME_DIR": "${PODSPAWN_HOME}/x"}, "on_start": "echo hi",
    "services": [{"name": "db", "image": "postgres:16", "ports": [5432],
                  "env": {"POSTGRES_PASSWORD": "pw"}, "volumes": ["pgdata:/var/lib/postgresql"],
                  "command": ["postgres", "-c", "fsync=off"], "ready": "pg_isready",
                  "resources": {"cpus": 1.5, "memory": "512m"}}],
    "ports": {"expose": [3000], "strategy": "manual"},
    "resources": {"cpus": 2, "memory": "2g"},
    "repos": [{"url": "https://example.com/a.git", "branch": "dev"}],
    "dotfiles": {"repo": "https://example.com/d.git", "install": "./i.sh"},
    "extensions": ["ms-python.python"], "volumes": ["cache:/cache"],
    "host_requirements": {"cpus": 2, "memory": "4g", "gpu": True},
}


@pytest.mark.parametrize("source", [{"base": "debian:bookworm"}, RICH])
def test_the_stored_form_reads_as_the_model(source: dict[str, object]) -> None:
    validated = Podfile.model_validate(source)
    read = stored_podfile(validated.model_dump(mode="json"))
    assert isinstance(read, Record)
    assert _as_data(read) == _as_data(validated)
    assert read == validated and read.model_dump() == validated.model_dump(mode="json")
    assert read.services == () or read.services[0].resources.memory == \
        validated.services[0].resources.memory


def test_a_stored_podfile_is_read_only_and_names_a_missing_field() -> None:
    read = stored_podfile(Podfile.model_validate({"base": "x"}).model_dump(mode="json"))
    with pytest.raises(AttributeError, match="read-only"):
        read.base = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="Podfile has no field 'nope'"):
        read.nope  # type: ignore[attr-defined]  # noqa: B018


def test_reading_a_stored_podfile_imports_no_pydantic() -> None:
    import json

    dumped = json.dumps(Podfile.model_validate(RICH).model_dump(mode="json"))
    code = ("import json, sys\nfrom podspawn.podfile.stored import stored_podfile\n"
            "from podspawn.podfile.loaded import LoadedPodfile\n"
            "from podspawn.podfile.env_values import session_env\n"
            f"p = stored_podfile(json.loads({dumped!r}))\n"
            "LoadedPodfile(podfile=p, origin='podfile', sources=())\n"
            "print(session_env(p, user='u', project='p', home='/h'))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines() == ["{'HOME_DIR': '/h/x'}", "[]"]


def test_the_model_still_offers_the_env_helpers() -> None:
    """Moved to ``env_values``; the package's names are unchanged."""
    from podspawn import podfile
    from podspawn.podfile import env_values

    assert podfile.session_env is env_values.session_env
    assert model.DEFERRED_VARIABLES is env_values.DEFERRED_VARIABLES


def test_another_shape_is_validated_by_the_model() -> None:
    """A file an older release wrote (a field missing) gets the model's defaults; an
    unknown field is the model's error, as before."""
    from pydantic import ValidationError

    dumped = Podfile.model_validate({"base": "x"}).model_dump(mode="json")
    del dumped["extensions"]
    older = stored_podfile(dumped)
    assert isinstance(older, Podfile) and older.extensions == ()
    with pytest.raises(ValidationError):
        stored_podfile({**dumped, "pakages": ["git"]})
