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
        if not rows:
            self.line(empty)
            return
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in columns:
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        self._console(False).print(table)
