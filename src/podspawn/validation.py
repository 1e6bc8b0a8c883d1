"""pydantic's validation errors in podspawn's words: one ``dotted.key: problem`` per error.

Every strict file (the server config, a user's overrides, the client config, a Podfile) is
checked by pydantic on the cold path, and each problem must reach the admin as one sentence
naming the key, never as pydantic's repr. :func:`describe_errors` is the one walk over
pydantic's error list; a :class:`Wording` says how one file format words what it finds (the
defaults are the Podfile's), so the formats differ only where their hints do: which keys
exist, what to set instead. pydantic itself is not imported here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    Loc = list[str | int]


class Wording:
    """How one file format words pydantic's errors. Subclass and override what differs."""

    #: A ``pattern`` constraint's hint, by pattern.
    patterns: Mapping[str, str] = {}
    #: Where an error without a location is; "" prints the problem alone.
    top_level = ""
    #: Prefix the problems of mapping keys (not their values) with ``invalid key:``.
    mark_keys = True
    #: Value errors already name their key (so the location is not repeated).
    located_values = False

    def show(self, value: object) -> str:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    def unknown_key(self, loc: Loc) -> str:
        return "unknown key"

    def missing(self, loc: Loc) -> str:
        return "Field required"

    def literal(self, error: Mapping[str, Any], message: str) -> str:
        return f"{message} (got {self.show(error.get('input'))})"

    def list_type(self, error: Mapping[str, Any], message: str) -> str:
        return "Input should be a list"

    def mapping_type(self, error: Mapping[str, Any], message: str) -> str:
        return self.other(error, message)

    def other(self, error: Mapping[str, Any], message: str) -> str:
        return message

    def pattern(self, error: Mapping[str, Any], message: str) -> str:
        pattern = str((error.get("ctx") or {}).get("pattern"))
        hint = self.patterns.get(pattern, "it has characters not allowed")
        return f"{self.show(error.get('input'))} is not valid: {hint}"

    def value(self, error: Mapping[str, Any], message: str) -> str:
        return message

    def text(self, error: Mapping[str, Any], loc: Loc, message: str) -> str:
        kind = error["type"]
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            return self.unknown_key(loc)
        if kind == "missing":
            return self.missing(loc)
        handler = {
            "string_pattern_mismatch": self.pattern, "value_error": self.value,
            "literal_error": self.literal, "enum": self.literal,
            "tuple_type": self.list_type, "list_type": self.list_type,
            "model_type": self.mapping_type, "dict_type": self.mapping_type,
            "model_attributes_type": self.mapping_type,
        }.get(kind, self.other)
        return handler(error, message)


def describe_errors(errors: Iterable[Mapping[str, Any]], wording: Wording | None = None
                    ) -> list[str]:
    """One line per error of ``exc.errors(include_url=False)``, worded by ``wording``."""
    wording = wording or Wording()
    lines = []
    for error in errors:
        raw = list(error["loc"])
        is_key = bool(raw) and raw[-1] == "[key]"
        loc: Loc = [part for part in raw if part != "[key]"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "value_error" and wording.located_values:
            lines.append(message)
            continue
        text = wording.text(error, loc, message)
        if is_key and wording.mark_keys:
            text = f"invalid key: {text}"
        where = ".".join(str(part) for part in loc) or wording.top_level
        lines.append(f"{where}: {text}" if where else text)
    return lines
