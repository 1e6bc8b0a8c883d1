"""A Feature's options as the environment of its ``install.sh``.

As the spec's option resolution says: every option the Feature declares is exported, with
the user's value or else its default; an option id becomes a variable name by replacing
every character but ASCII letters, digits and ``_`` with ``_``, replacing a leading run of
digits and underscores with one ``_``, and upper-casing. Booleans are ``true``/``false``.
A value outside an option's ``enum`` is refused by the Feature's and the option's name.

The user variables the spec adds (``_REMOTE_USER`` and friends) are not here: they name the
image's uid-1000 account, known only inside the build (see :mod:`.layers`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping

from podspawn.errors import PodfileError
from podspawn.podfile.features.metadata import FeatureMetadata

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]")
_LEADING = re.compile(r"^[0-9_]+")


def env_name(option_id: str) -> str:
    """The environment variable an option id becomes (``install-dir`` -> ``INSTALL_DIR``)."""
    return _LEADING.sub("_", _NOT_WORD.sub("_", option_id)).upper()


def _text(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def option_env(meta: FeatureMetadata, given: Mapping[str, str | bool], *, feature: str
               ) -> dict[str, str]:
    """The variables ``install.sh`` of ``feature`` runs with, sorted by name.

    Options the Feature does not declare are passed too (the spec passes what the user
    wrote), but may not clash with a declared one.

    Raises:
        PodfileError: a value is outside its option's ``enum``, a boolean option gets a
            value other than true/false, or two options map to one variable.
    """
    env: dict[str, str] = {}
    owner: dict[str, str] = {}
    names = list(meta.options) + [name for name in given if name not in meta.options]
    for name in names:
        option = meta.options.get(name)
        value = given.get(name, option.default if option is not None else "")
        text = _text(value)
        if option is not None and option.enum and text not in option.enum:
            raise PodfileError(f"feature {feature!r}: option {name!r} is {text[:60]!r}; it "
                               "must be one of " + ", ".join(option.enum))
        if option is not None and option.type == "boolean" and text not in ("true", "false"):
            raise PodfileError(f"feature {feature!r}: option {name!r} must be true or false")
        variable = env_name(name)
        if variable in owner:
            raise PodfileError(f"feature {feature!r}: options {owner[variable]!r} and "
                               f"{name!r} both become {variable}; rename one")
        owner[variable] = name
        env[variable] = text
    return dict(sorted(env.items()))


def env_file(env: Mapping[str, str]) -> str:
    """``devcontainer-features.env``: ``NAME=value`` lines (quoted) a POSIX shell can source."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items())
