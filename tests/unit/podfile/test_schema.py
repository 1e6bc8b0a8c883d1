"""The committed JSON Schema matches the model."""

from __future__ import annotations

import json
from typing import Any

from podspawn.podfile import Podfile, json_schema, schema_text
from podspawn.podfile.schema import committed_schema_text

REGENERATE = (
    "podfile.schema.json is stale; regenerate it with: python -c \"from podspawn.podfile.schema "
    "import schema_text as t; print(t(), end='')\" > src/podspawn/podfile/podfile.schema.json"
)


def test_committed_schema_matches_the_model() -> None:
    assert json.loads(committed_schema_text()) == json_schema(), REGENERATE
    assert committed_schema_text() == schema_text(), REGENERATE


def test_json_schema_is_the_model_schema() -> None:
    assert json_schema() == Podfile.model_json_schema()


def test_every_field_is_documented() -> None:
    schema = json_schema()
    objects: list[dict[str, Any]] = [schema, *schema["$defs"].values()]
    for obj in objects:
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{obj['title']}.{name} has no docstring"


def test_schema_is_closed_but_allows_bang_keys() -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert schema["patternProperties"] == {"^[a-z_]+!$": {}}
    assert schema["required"] == ["base"]
