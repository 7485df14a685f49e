"""Error kinds. Services raise these; the one HTTP handler maps them to a status and headers.

InhouseError
 ├── BadRequest (400 BadRequest)
 │    ├── InvalidPath (422 InvalidPath)
 │    └── InvalidRepoId (400 InvalidRepoId)
 ├── Unauthorized (401 Unauthorized)          invalid / revoked / expired credentials
 ├── Forbidden (403 Forbidden)                authenticated but not allowed
 ├── NotFound (404 NotFound)
 │    ├── RepoNotFound (404/401 RepoNotFound)
 │    ├── RevisionNotFound (404 RevisionNotFound)
 │    └── EntryNotFound (404 EntryNotFound)
 ├── GatedRepo (401/403 GatedRepo)
 ├── MethodNotAllowed (405 MethodNotAllowed)
 ├── Conflict (409 Conflict)
 ├── PreconditionFailed (412 PreconditionFailed) the branch moved under a commit
 ├── RequestTimeout (408 RequestTimeout)     the request body stopped arriving
 ├── PayloadTooLarge (413 PayloadTooLarge)
 ├── RangeNotSatisfiable (416 RangeNotSatisfiable)
 ├── TooManyRequests (429 TooManyRequests)    too many failed token checks; carries retry_after_s
 ├── IntegrityError (400 IntegrityError)      uploaded bytes do not match the announced hash/size
 └── SchemaMismatch (503 SchemaMismatch)      the database's schema is not this code's: `inhouse db upgrade`
"""

from __future__ import annotations


class InhouseError(Exception):
    """Base of every error a user can see. `message` says what went wrong and what to do next."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, status: int | None = None, headers: dict[str, str] | None = None,
                 body: dict[str, object] | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})
        self.body: dict[str, object] = dict(body or {})  # extra keys of the JSON error body, next to "error"


class BadRequest(InhouseError):
    status = 400
    code = "BadRequest"


class InvalidPath(BadRequest):
    status = 422
    code = "InvalidPath"


class InvalidRepoId(BadRequest):
    code = "InvalidRepoId"


class Unauthorized(InhouseError):
    status = 401
    code = "Unauthorized"


class Forbidden(InhouseError):
    status = 403
    code = "Forbidden"


class NotFound(InhouseError):
    status = 404
    code = "NotFound"


class RepoNotFound(NotFound):
    code = "RepoNotFound"

    def __init__(self, message: str = "Repository not found", *, anonymous: bool = False, **kw: object):
        # Anonymous callers get 401 so that the client suggests logging in; the code stays RepoNotFound.
        super().__init__(message, status=401 if anonymous else 404, **kw)  # type: ignore[arg-type]


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class EntryNotFound(NotFound):
    code = "EntryNotFound"


class GatedRepo(InhouseError):
    status = 403
    code = "GatedRepo"


class MethodNotAllowed(InhouseError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(InhouseError):
    status = 409
    code = "Conflict"


class PreconditionFailed(InhouseError):
    status = 412
    code = "PreconditionFailed"


class RequestTimeout(InhouseError):
    status = 408
    code = "RequestTimeout"


class PayloadTooLarge(InhouseError):
    status = 413
    code = "PayloadTooLarge"


class RangeNotSatisfiable(InhouseError):
    status = 416
    code = "RangeNotSatisfiable"


class TooManyRequests(InhouseError):
    """Too many failed attempts from one client; `retry_after_s` says when it may try again."""

    status = 429
    code = "TooManyRequests"

    def __init__(self, message: str, *, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IntegrityError(BadRequest):
    code = "IntegrityError"


class SchemaMismatch(InhouseError):
    """The database is at another schema revision than this code's, e.g. made by inhouse 0.1.0:
    `Stores.open(settings)` raises it, and the message names both revisions and the `inhouse db upgrade` to run."""

    status = 503
    code = "SchemaMismatch"


INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
