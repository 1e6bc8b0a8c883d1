"""All terminal output of the CLI: messages to stderr, data to stdout, markup off.

Names printed here come from users, so rich's markup, emoji and highlighting are off and
text prints literally. Colour follows rich's own detection (NO_COLOR, FORCE_COLOR, a tty).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self._out: Console | None = None
        self._err: Console | None = None

    def _console(self, err: bool) -> Console:
        from rich.console import Console

        if err:
            if self._err is None:
                self._err = Console(stderr=True, markup=False, emoji=False, highlight=False,
                                    soft_wrap=True)
            return self._err
        if self._out is None:
            self._out = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
        return self._out

    def line(self, text: str) -> None:
        """A result line for people (stdout)."""
        if not self.json_mode:
            self._console(False).print(text)

    def info(self, text: str) -> None:
        if not self.quiet and not self.json_mode:
            self._console(True).print(text)

    def warn(self, text: str) -> None:
        self._console(True).print(f"warning: {text}", style="yellow")

    def data(self, payload: Any) -> None:
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
        """Aligned columns with every value whole, at any width and when piped.

        Never cut: a value is data someone may grep or paste (a container name, a repo URL),
        so a narrow terminal wraps the line instead, as ``docker ps`` does; scripts that need
        structure use ``--json``. Plain text, not a rich table, so a pipe or cron mail gets
        exactly what a terminal shows.
        """
        if not rows:
            self.line(empty)
            return
        sys.stdout.write(render_table(columns, rows))
        sys.stdout.flush()


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``columns`` and ``rows`` as lines of left-aligned columns, two spaces apart."""
    cells = [list(columns), *[[_cell(value) for value in row] for row in rows]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in cells
    )


def _cell(value: object) -> str:
    """One line per row: a newline or tab inside a value is shown escaped, never obeyed."""
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
