"""The one error type of the configuration room: `ConfigError`, a list of located problems.

Every mistake in app.yaml / queue.yaml (and the files they include) becomes one problem line
`path:line:column: key.path: message`, with the path as the user gave it, so editors and terminals
can jump to it. The CLI prints `str(err)` and exits 2; nothing here is ever shown as a traceback.

Imports: the standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Union


def printable(text: str) -> str:
    """`text` with control characters, lone surrogates and other unprintables escaped (`\\x1b`,
    `\\ud800`), so a key copied from a broken file cannot garble or break the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Problem:
    """One located mistake; line and column are 1-based, either may be unknown (None)."""

    path: str
    message: str
    line: Optional[int] = None
    column: Optional[int] = None
    key_path: str = ""

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        if self.key_path:
            return f"{where}: {printable(self.key_path)}: {printable(self.message)}"
        return f"{where}: {printable(self.message)}"


class ConfigError(Exception):
    """A configuration file is wrong; `problems` holds one formatted line per mistake.

    `details` keeps the structured `Problem`s for callers that want the line numbers.
    """

    def __init__(self, problems: Iterable[Union[Problem, str]]) -> None:
        items = list(problems)
        self.details: List[Problem] = [
            p if isinstance(p, Problem) else Problem(path="", message=p) for p in items
        ]
        self.problems: List[str] = [str(p) for p in items]
        super().__init__("\n".join(self.problems))

    def __str__(self) -> str:
        return "\n".join(self.problems)
