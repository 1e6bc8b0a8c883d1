"""Podfiles: a project's environment, from YAML to a validated model and an image recipe.

Pure code: no container engine, no network except through an injected fetcher, no I/O
beyond reading the project's files and the bundled bases. The layers, each in its module:

* :mod:`~podspawn.podfile.load`: find the file, resolve ``extends``, merge, validate once;
* :mod:`~podspawn.podfile.merge`: the merge rules, one pure function;
* :mod:`~podspawn.podfile.model`: the schema (pydantic models);
* :mod:`~podspawn.podfile.recipe`: the Dockerfile, content hash and image tag;
* :mod:`~podspawn.podfile.devcontainer`: devcontainer.json conversion;
* :mod:`~podspawn.podfile.bundled`: shipped bases and ``init`` templates, and detection.

Decisions where the Go implementation's docs contradict each other or its code is broken
(each is explained in the module named):

* Location (docs 2.Z #2): ``podfile.yaml``, then ``.podspawn/podfile.yaml`` (a warning when
  both exist), then devcontainer.json; no per-user fallback Podfile. [load]
* Validation: always, once, after ``extends`` is merged (Go validated only in add-project);
  unknown keys are errors (Go ignored them); ``"!item"`` without ``extends`` is an error; a
  service volume without ``:`` is an error (docs: skipped with a warning). [load, model]
* ``extends`` in add-project and the tag hash (bug #6): every caller loads through
  :func:`load_podfile`, and the hash is over the resolved Podfile, never raw bytes (the docs
  said raw bytes; the Go code used raw bytes without ``extends`` and merged YAML with it), so
  add-project, update-project and prebuild compute the same tag; a login uses the tag and
  the resolved Podfile they stored, and loads nothing itself. [load, recipe]
* ``shell`` (bug #16): defaults are applied after merging, so a base's shell is inherited. [model]
* Service host paths (bug #23): refused unless under an admin-allowed root. [load, model]
* Templates and home paths (bug #15): nothing hard-codes ``/home/user``; runtimes install
  under ``/usr/local``; ``${PODSPAWN_HOME}`` joins ``${PODSPAWN_USER}`` and
  ``${PODSPAWN_PROJECT}`` for per-session env values. [bundled, recipe, model]
* Template versions (docs 2.Z #13): ``rust@stable`` with ``rustup component add``, and
  ``go@1.25.0`` (the newer of the two documented). [bundled]
* ``repos[].branch`` default (docs 2.Z #8): the repository's default branch, not ``main``. [model]
* Hook failure (docs 2.Z #10): ``on_create`` fatal, ``on_start`` a warning, in every mode. [model]
* Mode precedence (docs 2.Z #3): Podfile ``mode`` sits above the server default and below the
  admin's project and user settings. [model]
* Named volumes at session end (docs 2.Z #9): kept until the project is cleaned explicitly.
  [model]
* Dockerfile order (docs vs code): runtimes before the apt batch, as the docs say; no
  ``sudo`` in the Podfile's apt list (the podspawn image layer provides it). [recipe]
* Runtime versions: any ``nodejs@N`` and ``python@3.N`` of the right shape, not a fixed list;
  ``python@`` installs ``software-properties-common`` before using the PPA. [packages, recipe]
* devcontainer command forms: arrays run without a shell and objects in parallel, as the
  spec says (the Go tool joined both with ``&&``). [devcontainer]

The package imports its modules only when a name is first used: a login reads the stored
Podfile through :mod:`~podspawn.podfile.model` alone, without the loader, the bundled bases
or the devcontainer code (about 80 ms).

Typical use, the same in ``add-project``, ``update-project`` and ``prebuild``::

    loaded = load_podfile(checkout, fetch=fetcher, allowed_bind_roots=roots)
    tag = loaded.image_tag(project)            # podspawn/<project>:podfile-<hash>
    dockerfile = render_recipe(loaded.podfile, settings)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# eager, and light: ``merge`` is also a submodule's name, which the first import of that
# submodule would otherwise bind here in place of the function
from podspawn.podfile.merge import merge, removal_markers

if TYPE_CHECKING:
    from podspawn.podfile.bundled import (
        TEMPLATE_NAMES,
        bundled_names,
        bundled_text,
        detect,
        detect_marker,
        template_text,
    )
    from podspawn.podfile.devcontainer import (
        command_script,
        convert_devcontainer,
        find_devcontainer,
        load_devcontainer,
        parse_jsonc,
    )
    from podspawn.podfile.env_values import (
        default_workspace,
        image_env,
        is_deferred,
        session_env,
    )
    from podspawn.podfile.load import (
        DEFAULT_REMOTE_BASE_URL,
        MAX_EXTENDS_DEPTH,
        PODFILE_NAMES,
        Fetcher,
        check_policy,
        find_podfile,
        format_errors,
        http_fetcher,
        load_file,
        load_podfile,
        parse_podfile,
        validate,
    )
    from podspawn.podfile.loaded import LoadedPodfile
    from podspawn.podfile.model import (
        Dotfiles,
        Podfile,
        Ports,
        Repo,
        Resources,
        Service,
        ServiceResources,
    )
    from podspawn.podfile.packages import Package, parse_package
    from podspawn.podfile.recipe import (
        RECIPE_VERSION,
        RecipeSettings,
        base_family,
        content_hash,
        image_tag,
        render_recipe,
    )
    from podspawn.podfile.schema import json_schema, schema_text

#: Where each public name lives, imported on first use.
_HOMES = {
    'DEFAULT_REMOTE_BASE_URL': 'podspawn.podfile.load',
    'Dotfiles': 'podspawn.podfile.model',
    'Fetcher': 'podspawn.podfile.load',
    'LoadedPodfile': 'podspawn.podfile.loaded',
    'MAX_EXTENDS_DEPTH': 'podspawn.podfile.load',
    'PODFILE_NAMES': 'podspawn.podfile.load',
    'Package': 'podspawn.podfile.packages',
    'Podfile': 'podspawn.podfile.model',
    'Ports': 'podspawn.podfile.model',
    'RECIPE_VERSION': 'podspawn.podfile.recipe',
    'RecipeSettings': 'podspawn.podfile.recipe',
    'Repo': 'podspawn.podfile.model',
    'Resources': 'podspawn.podfile.model',
    'Service': 'podspawn.podfile.model',
    'ServiceResources': 'podspawn.podfile.model',
    'TEMPLATE_NAMES': 'podspawn.podfile.bundled',
    'base_family': 'podspawn.podfile.recipe',
    'bundled_names': 'podspawn.podfile.bundled',
    'bundled_text': 'podspawn.podfile.bundled',
    'check_policy': 'podspawn.podfile.load',
    'command_script': 'podspawn.podfile.devcontainer',
    'content_hash': 'podspawn.podfile.recipe',
    'convert_devcontainer': 'podspawn.podfile.devcontainer',
    'default_workspace': 'podspawn.podfile.env_values',
    'detect': 'podspawn.podfile.bundled',
    'detect_marker': 'podspawn.podfile.bundled',
    'find_devcontainer': 'podspawn.podfile.devcontainer',
    'find_podfile': 'podspawn.podfile.load',
    'format_errors': 'podspawn.podfile.load',
    'http_fetcher': 'podspawn.podfile.load',
    'image_env': 'podspawn.podfile.env_values',
    'image_tag': 'podspawn.podfile.recipe',
    'is_deferred': 'podspawn.podfile.env_values',
    'json_schema': 'podspawn.podfile.schema',
    'load_devcontainer': 'podspawn.podfile.devcontainer',
    'load_file': 'podspawn.podfile.load',
    'load_podfile': 'podspawn.podfile.load',
    'parse_jsonc': 'podspawn.podfile.devcontainer',
    'parse_package': 'podspawn.podfile.packages',
    'parse_podfile': 'podspawn.podfile.load',
    'render_recipe': 'podspawn.podfile.recipe',
    'schema_text': 'podspawn.podfile.schema',
    'session_env': 'podspawn.podfile.env_values',
    'template_text': 'podspawn.podfile.bundled',
    'validate': 'podspawn.podfile.load',
}


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_REMOTE_BASE_URL",
    "MAX_EXTENDS_DEPTH",
    "PODFILE_NAMES",
    "RECIPE_VERSION",
    "TEMPLATE_NAMES",
    "Dotfiles",
    "Fetcher",
    "LoadedPodfile",
    "Package",
    "Podfile",
    "Ports",
    "RecipeSettings",
    "Repo",
    "Resources",
    "Service",
    "ServiceResources",
    "base_family",
    "bundled_names",
    "bundled_text",
    "check_policy",
    "command_script",
    "content_hash",
    "convert_devcontainer",
    "default_workspace",
    "detect",
    "detect_marker",
    "find_devcontainer",
    "find_podfile",
    "format_errors",
    "http_fetcher",
    "image_env",
    "image_tag",
    "is_deferred",
    "json_schema",
    "load_devcontainer",
    "load_file",
    "load_podfile",
    "merge",
    "parse_jsonc",
    "parse_package",
    "parse_podfile",
    "removal_markers",
    "render_recipe",
    "schema_text",
    "session_env",
    "template_text",
    "validate",
]
