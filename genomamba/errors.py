"""One exception type for bad input, rendered by the CLI as a single line: ``<file>:<record>: <problem>``."""

from __future__ import annotations

import os


class GenomambaError(Exception):
    """A user-facing error about an input (file, record, value). The CLI prints it on one line, exit code 2."""

    exit_code = 2

    def __init__(self, problem: str, path: str | os.PathLike | None = None, record: str | int | None = None):
        self.problem = problem
        self.path = None if path is None else os.fspath(path)
        self.record = record
        super().__init__(self.render())

    def render(self) -> str:
        where = [str(x) for x in (self.path, self.record) if x is not None and x != ""]
        return ": ".join([":".join(where), self.problem]) if where else self.problem
