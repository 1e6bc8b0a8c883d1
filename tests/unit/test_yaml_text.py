"""The one YAML loader: safe types only, one error type, duplicate keys refused on request."""

from __future__ import annotations

import pytest

from podspawn import yaml_text


def test_a_document_round_trips_in_key_order() -> None:
    data = {"servers": {"default": "h", "mappings": {"b.pod": "x", "a.pod": "y"}}}
    text = yaml_text.dump(data)
    assert text.index("b.pod") < text.index("a.pod")
    assert yaml_text.load(text) == data
    assert yaml_text.load("") is None


def test_bad_syntax_names_its_line() -> None:
    with pytest.raises(yaml_text.YamlSyntaxError) as info:
        yaml_text.load("a: 1\nb: [unclosed\n")
    assert info.value.line is not None and info.value.line >= 2
    assert info.value.at_line == f" at line {info.value.line}"


def test_no_object_is_ever_constructed() -> None:
    with pytest.raises(yaml_text.YamlSyntaxError):
        yaml_text.load("!!python/object/apply:os.system ['true']")


def test_a_repeated_key_is_refused_only_when_asked() -> None:
    text = "image: a\nimage: b\n"
    assert yaml_text.load(text) == {"image": "b"}
    with pytest.raises(yaml_text.YamlSyntaxError, match="appears twice") as info:
        yaml_text.load(text, unique_keys=True)
    assert (info.value.line, info.value.column) == (2, 1)
    # merge keys are not repeats
    assert yaml_text.load("x: &a {k: 1}\ny:\n  <<: *a\n  j: 2\n", unique_keys=True) == {
        "x": {"k": 1}, "y": {"k": 1, "j": 2}}
