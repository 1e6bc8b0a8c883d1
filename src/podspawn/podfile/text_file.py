"""Reading a repository's text file (a Dockerfile, a Compose file) with one bounded read, so
a hostile repository cannot make add-project read a huge or binary file."""

from __future__ import annotations

import os

from podspawn.errors import PodfileError


def read_bounded_text(path: str | os.PathLike[str], *, display: str, limit: int) -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); ``display`` names it in errors.

    Raises:
        PodfileError: it is unreadable, larger than ``limit`` bytes or not UTF-8.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise PodfileError(f"{display} cannot be read "
                           f"({exc.strerror or 'I/O error'})") from None
    if len(data) > limit:
        raise PodfileError(f"{display} is larger than {limit} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PodfileError(f"{display} is not UTF-8 text") from None
