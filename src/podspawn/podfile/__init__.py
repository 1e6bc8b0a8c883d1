"""Podfiles: a project's environment, from YAML to a validated model and an image recipe.

Pure code: no container engine, no network except through an injected fetcher, no I/O
beyond reading the project's files and the bundled bases. The layers, each in its module:

* :mod:`~podspawn.podfile.load`: find the file, resolve ``extends``, merge, validate once;
* :mod:`~podspawn.podfile.merge`: the merge rules, one pure function;
* :mod:`~podspawn.podfile.model`: the schema (pydantic models);
* :mod:`~podspawn.podfile.recipe`: the Dockerfile, content hash and image tag;
* :mod:`~podspawn.podfile.devcontainer`: devcontainer.json conversion;
* :mod:`~podspawn.podfile.bundled`: shipped bases and ``init`` templates, and detection.

Typical use, the same in ``add-project``, at login and in ``prebuild``::

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
