"""YAML in and out, one way: safe loading (the C loader when PyYAML has it), block dumping.

Every file podspawn reads as YAML (the server config, user overrides, the client config,
Podfiles) goes through :func:`load`, so none of them can construct an object and all report
bad syntax the same way: :class:`YamlSyntaxError`, which the caller words for its file.
A Podfile also refuses a key written twice (``unique_keys``), since a repository is
untrusted input and the second ``image:`` must not silently win. ``yaml`` is imported on
first use, so importing this module costs nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class YamlSyntaxError(ValueError):
    """The text is not YAML. ``line`` and ``column`` count from 1 (None when unknown)."""

    def __init__(self, problem: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.column = column

    @property
    def at_line(self) -> str:
        """`` at line N``, or "" when the parser named no place."""
        return "" if self.line is None else f" at line {self.line}"


_STRICT: list[Any] = []


def _strict_loader() -> Any:
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (built once)."""
    if _STRICT:
        return _STRICT[0]
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key; construct_mapping reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark,
                    f"the key {key!r} appears twice", key_node.start_mark,
                )
        return loader.construct_mapping(node, deep=True)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 construct_mapping)
    _STRICT.append(StrictLoader)
    return StrictLoader


def load(text: bytes | str, *, unique_keys: bool = False) -> Any:
    """The document in ``text`` (None when it is empty), built from plain YAML types only.

    Raises:
        YamlSyntaxError: the text is not YAML (or, with ``unique_keys``, repeats a key).
    """
    import yaml

    loader = _strict_loader() if unique_keys else getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, C or Python
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(
            str(exc.problem or exc.context or type(exc).__name__),
            line=mark.line + 1 if mark is not None else None,
            column=mark.column + 1 if mark is not None else None,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(type(exc).__name__) from None


def dump(data: Any) -> str:
    """``data`` as block-style YAML, keys in their order."""
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
