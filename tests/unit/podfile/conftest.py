from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from podspawn.errors import PodfileError

WriteFile = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write ``text`` to ``tmp_path/relative`` (creating directories) and return the path."""

    def write_file(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write_file


def problem_lines(error: PodfileError) -> list[str]:
    """The indented problem lines under a Podfile error's header."""
    return [line.strip() for line in error.message.splitlines()[1:]]
