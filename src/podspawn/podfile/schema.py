"""The Podfile JSON Schema, for editors and ``podspawn podfile schema``.

It is generated from :class:`podspawn.podfile.model.Podfile` (field docstrings become
descriptions) and committed as ``podfile.schema.json`` next to this module; a unit test
fails when the two differ. Regenerate it with::

    python -c "from podspawn.podfile.schema import schema_text as t; print(t(), end='')" \\
        > src/podspawn/podfile/podfile.schema.json

The schema describes a Podfile as written, except two merge markers it cannot express
fully: ``key!:`` keys are allowed at the top level, and ``"!item"`` list entries (removing
an inherited item) are not.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from podspawn.podfile.model import Podfile

SCHEMA_FILE = "podfile.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a Podfile."""
    return Podfile.model_json_schema()


def schema_text() -> str:
    """:func:`json_schema` as the committed file holds it: sorted keys, 2-space indent."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def committed_schema_text() -> str:
    """The text of the committed ``podfile.schema.json``."""
    return resources.files("podspawn.podfile").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
