"""The clear failures a worker kind raises: a code from the worker protocol (inhouse.jobs.events.ErrorCode) and a
message for the person who asked, saying what to do next."""

from __future__ import annotations

from inhouse.jobs.events import ErrorCode


class WorkerFailure(Exception):
    """`raise WorkerFailure("bad-input", "The dataset has no column 'text'; its columns are: sentence, label.")`"""

    def __init__(self, code: str | ErrorCode, message: str):
        super().__init__(message)
        self.code = ErrorCode(code).value
        self.message = message
