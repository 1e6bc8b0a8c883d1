"""Merge a child Podfile onto the Podfile it ``extends``: one pure function over plain dicts.

:func:`merge` takes the parent (already resolved) and the child as parsed from YAML, and
returns a new dict; neither input is changed. The rules, field by field:

================================  ==========================================================
field                             rule
================================  ==========================================================
mappings (``resources``,          merged key by key, recursively; the child wins per key
``ports``, a service entry...)
scalars (``base``, ``shell``,     the child's value replaces the parent's
``mode``, ``workspace``...)
a child value of ``null``         no opinion: the parent's value stays
``name``                          never inherited: only the child's
``extends``                       dropped (the loader has resolved it)
``dotfiles``                      replaced as a whole (a repo and its install go together)
``packages``                      parent's entries, then the child's appended; an entry with
                                  the same name (``go@1.25`` over ``go@1.24``) replaces the
                                  parent's in place, so each package appears once
``extra_commands``                parent's commands, then the child's
``ports.expose``                  parent's ports, then the child's not already present
``on_create``, ``on_start``       parent's script, a newline, then the child's
``env`` (top level and in a       merged by key, the child wins; a child value of ``""``
service)                          deletes the key
``services``                      matched by ``name``: the same name merges field by field
                                  (this rule table applied to the entry), a new name is
                                  appended, ``name: "!redis"`` removes ``redis``
``repos``                         matched by ``url`` the same way; ``url: "!<url>"`` removes
other lists (service ``ports``,   the child's list replaces the parent's
``volumes``, ``command``)
================================  ==========================================================

Two markers change a rule, at any depth:

* ``key!:`` in the child replaces the parent's value outright, without merging (``packages!:
  [git]`` keeps only git; ``env!: {}`` drops every inherited variable; ``resources!: null``
  resets the limits to the defaults). Writing both ``key`` and ``key!`` is an error.
* a list item ``"!item"`` removes that item from the parent's list, in ``packages``
  (``!neovim`` removes any version; ``!go@1.24`` only that one), ``extra_commands`` and
  ``ports.expose`` (``"!8080"``). Removing something the parent lacks does nothing, so a
  base can drop a package without breaking the Podfiles built on it.

The Go implementation replaced a same-named service wholesale; merging it field by field lets
a child change only the image tag of an inherited ``postgres``. To replace a service entirely,
remove it and add it again: ``[{name: "!db"}, {name: db, image: ...}]``.

The result of ``merge({}, doc)`` is ``doc`` with every marker applied, which is how a Podfile
without ``extends`` is normalized before validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from podspawn.errors import PodfileError
from podspawn.podfile.packages import package_name

_HOOKS = frozenset({"on_create", "on_start"})
_NOT_INHERITED = frozenset({"name", "extends"})
_KEYED_LISTS: dict[tuple[str, ...], str] = {("services",): "name", ("repos",): "url"}
_APPEND_LISTS: dict[tuple[str, ...], bool] = {  # the value says whether to drop duplicates
    ("extra_commands",): False,
    ("ports", "expose"): True,
}
_REPLACED: frozenset[tuple[str, ...]] = frozenset({("dotfiles",)})
_ANY = "*"


def merge(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """A new Podfile dict: ``child`` merged onto ``parent`` by the rules in this module's doc.

    Raises:
        PodfileError: the child writes a key both with and without ``!``, or lists the same
            service, repo or package (with different versions) twice.
    """
    inherited = {key: value for key, value in parent.items() if key not in _NOT_INHERITED}
    own = {key: value for key, value in child.items() if _plain(key) != "extends"}
    return _merge_mapping(inherited, own, ())


def removal_markers(doc: Mapping[str, Any]) -> list[str]:
    """Where ``doc`` removes inherited items (``"!item"`` entries), as dotted paths.

    A Podfile without ``extends`` has nothing to remove from; the loader reports these.
    """
    return list(_markers(doc, ()))


def _markers(value: Any, path: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _markers(item, (*path, _plain(str(key))))
        return
    if not isinstance(value, list):
        return
    key_field = _KEYED_LISTS.get(path)
    for index, item in enumerate(value):
        where = ".".join((*path, str(index)))
        is_removal = (
            _is_marker(item.get(key_field))
            if key_field and isinstance(item, Mapping)
            else _is_marker(item) and _is_list_rule(path)
        )
        if is_removal:
            yield where
        elif isinstance(item, Mapping):
            yield from _markers(item, (*path, _ANY))


def _merge_mapping(
    parent: Mapping[str, Any], child: Mapping[str, Any], path: tuple[str, ...]
) -> dict[str, Any]:
    result: dict[str, Any] = {key: copy.deepcopy(value) for key, value in parent.items()}
    is_env = path[-1:] == ("env",)
    for raw_key, value in child.items():
        key = _plain(raw_key)
        if key != raw_key and key in child:
            raise PodfileError(
                f"{_dotted((*path, key))}: write either {key} or {raw_key}, not both"
            )
        where = (*path, key)
        if is_env and (value == "" or (key != raw_key and value is None)):
            result.pop(key, None)
        elif key != raw_key:
            if value is None:
                result.pop(key, None)
            else:
                result[key] = _normalize(value, where)
        elif value is None:
            continue
        elif key in result:
            result[key] = _merge_value(result[key], value, where)
        else:
            result[key] = _normalize(value, where)
    return result


def _merge_value(parent: Any, child: Any, path: tuple[str, ...]) -> Any:
    if path in _REPLACED:
        merged = _normalize(child, path)
    elif len(path) == 1 and path[0] in _HOOKS:
        merged = _merge_hook(parent, child)
    elif isinstance(parent, Mapping) and isinstance(child, Mapping):
        merged = _merge_mapping(parent, child, path)
    elif isinstance(parent, list) and isinstance(child, list) and _is_list_rule(path):
        merged = _merge_list(parent, child, path)
    else:
        merged = _normalize(child, path)
    return merged


def _merge_list(parent: list[Any], child: list[Any], path: tuple[str, ...]) -> list[Any]:
    if path in _KEYED_LISTS:
        return _merge_keyed(parent, child, path, _KEYED_LISTS[path])
    if path in _APPEND_LISTS:
        return _merge_appended(parent, child, dedupe=_APPEND_LISTS[path])
    return _merge_packages(parent, child)


def _merge_hook(parent: Any, child: Any) -> Any:
    """Parent's script, then the child's; an empty or missing side adds nothing."""
    if not isinstance(parent, str) or not isinstance(child, str) or not parent:
        return copy.deepcopy(child)
    if not child:
        return parent
    return parent + ("" if parent.endswith("\n") else "\n") + child


def _normalize(value: Any, path: tuple[str, ...]) -> Any:
    """``value`` as if merged onto nothing: markers applied, a fresh copy."""
    if isinstance(value, Mapping):
        return _merge_mapping({}, value, path)
    if isinstance(value, list) and _is_list_rule(path):
        return _merge_list([], value, path)
    return copy.deepcopy(value)


def _is_list_rule(path: tuple[str, ...]) -> bool:
    return path == ("packages",) or path in _KEYED_LISTS or path in _APPEND_LISTS


def _merge_packages(parent: list[Any], child: list[Any]) -> list[Any]:
    result = [copy.deepcopy(item) for item in parent]
    added: dict[str, str] = {}
    for item in child:
        if not isinstance(item, str):
            result.append(copy.deepcopy(item))  # validation names the wrong type
            continue
        if _is_marker(item):
            target = item[1:]
            result = [
                kept
                for kept in result
                if not isinstance(kept, str)
                or (kept != target and ("@" in target or package_name(kept) != target))
            ]
            continue
        name = package_name(item)
        if name in added and added[name] != item:
            raise PodfileError(f"packages: {name} is listed twice ({added[name]}, {item})")
        added[name] = item
        for index, existing in enumerate(result):
            if isinstance(existing, str) and package_name(existing) == name:
                result[index] = item
                break
        else:
            result.append(item)
    return result


def _merge_appended(parent: list[Any], child: list[Any], *, dedupe: bool) -> list[Any]:
    result = [copy.deepcopy(item) for item in parent]
    for item in child:
        if _is_marker(item):
            target = item[1:]
            result = [kept for kept in result if str(kept) != target]
        elif not (dedupe and item in result):
            result.append(copy.deepcopy(item))
    return result


def _merge_keyed(
    parent: list[Any], child: list[Any], path: tuple[str, ...], key_field: str
) -> list[Any]:
    entry_path = (*path, _ANY)
    result = [copy.deepcopy(item) for item in parent]
    added: set[Any] = set()
    for item in child:
        if not isinstance(item, Mapping):
            result.append(copy.deepcopy(item))
            continue
        key = item.get(key_field)
        if _is_marker(key):
            result = [
                kept
                for kept in result
                if not (isinstance(kept, Mapping) and kept.get(key_field) == key[1:])
            ]
            continue
        if isinstance(key, str):
            if key in added:
                raise PodfileError(f"{_dotted(path)}: duplicate {key_field} {key!r}")
            added.add(key)
        for index, existing in enumerate(result):
            if key is not None and isinstance(existing, Mapping) and existing.get(key_field) == key:
                result[index] = _merge_mapping(existing, item, entry_path)
                break
        else:
            result.append(_normalize(item, entry_path))
    return result


def _plain(key: Any) -> Any:
    if isinstance(key, str) and key.endswith("!") and len(key) > 1:
        return key[:-1]
    return key


def _is_marker(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith("!") and len(value) > 1


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(str(part) for part in path)
