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

Typical use, the same in ``add-project``, ``update-project`` and ``prebuild``::

    loaded = load_podfile(checkout, fetch=fetcher, allowed_bind_roots=roots)
    tag = loaded.image_tag(project)            # podspawn/<project>:podfile-<hash>
    dockerfile = render_recipe(loaded.podfile, settings)
"""

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
from podspawn.podfile.load import (
    DEFAULT_REMOTE_BASE_URL,
    MAX_EXTENDS_DEPTH,
    PODFILE_NAMES,
    Fetcher,
    LoadedPodfile,
    check_policy,
    find_podfile,
    format_errors,
    http_fetcher,
    load_file,
    load_podfile,
    parse_podfile,
    validate,
)
from podspawn.podfile.merge import merge, removal_markers
from podspawn.podfile.model import (
    Dotfiles,
    Podfile,
    Ports,
    Repo,
    Resources,
    Service,
    ServiceResources,
    default_workspace,
    image_env,
    is_deferred,
    session_env,
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
