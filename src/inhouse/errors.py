"""Error kinds. Services raise these with facts (a commit, a size, a new repo id); the one HTTP handler
(web/responses.py) maps each kind to a status and turns its facts into headers.

InhouseError
 ├── RepoMoved (307)                          asked for by an old name: carries the repo's id now
 ├── BadRequest (400 BadRequest)
 │    ├── InvalidPath (422 InvalidPath)
 │    └── InvalidRepoId (400 InvalidRepoId)
 ├── Unauthorized (401 Unauthorized)          invalid / revoked / expired credentials
 ├── Forbidden (403 Forbidden)                authenticated but not allowed
 │    ├── PolicyViolation (403 PolicyViolation) a policy refused a commit, push or merge: carries the findings
 │    ├── RepoDisabled (403 RepoDisabled)      a withdrawn model: "Access to this resource is disabled."
 │    └── FileQuarantined (403 FileQuarantined) a file a policy holds back: not served until released
 ├── NotFound (404 NotFound)
 │    ├── RepoNotFound (404/401 RepoNotFound)
 │    ├── RevisionNotFound (404 RevisionNotFound)
 │    └── EntryNotFound (404 EntryNotFound)     carries the commit that was looked in
 ├── GatedRepo (401/403 GatedRepo)
 ├── MethodNotAllowed (405 MethodNotAllowed)
 ├── Conflict (409 Conflict)
 │    └── RepoExists (409 Conflict)           carries the existing repo's web path
 ├── PreconditionFailed (412 PreconditionFailed) the branch moved under a commit
 ├── RequestTimeout (408 RequestTimeout)     the request body stopped arriving
 ├── PayloadTooLarge (413 PayloadTooLarge)
 ├── RangeNotSatisfiable (416 RangeNotSatisfiable) carries the size of what the range was asked of
 ├── TooManyRequests (429 TooManyRequests)    too many failed token checks; carries retry_after_s
 ├── IntegrityError (400 IntegrityError)      uploaded bytes do not match the announced hash/size
 └── SchemaMismatch (503 SchemaMismatch)      the database's schema is not this code's: `inhouse db upgrade`
"""

from __future__ import annotations


class InhouseError(Exception):
    """Base of every error a user can see. `message` says what went wrong and what to do next."""

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class RepoMoved(InhouseError):
    """The repo was asked for by a name it had before a move; `repo_id` is its "namespace/name" now. Raised only
    once the caller was allowed to see it, so a new name is never told to someone who may not see the repo."""

    status = 307
    code = "RepoMoved"

    def __init__(self, repo_id: str):
        super().__init__(f"This repository is now {repo_id}: use that name.")
        self.repo_id = repo_id


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


class PolicyViolation(Forbidden):
    """An organisation's policy refused a commit, push or merge. `findings` lists each rule that refused, with
    the file it found something in (dicts: rule, outcome, path, message); the message names them all and says
    what to do next."""

    code = "PolicyViolation"

    def __init__(self, message: str, *, findings: list[dict[str, object]]):
        super().__init__(message)
        self.findings = findings


# huggingface_hub raises DisabledRepoError for exactly this X-Error-Message
DISABLED_MESSAGE = "Access to this resource is disabled."


class RepoDisabled(Forbidden):
    """A withdrawn model: its files are not served. The message is the one the Hub's clients recognise;
    `replacement` ("namespace/name", or None) and `reason` travel in their own headers and the JSON body."""

    code = "RepoDisabled"

    def __init__(self, *, replacement: str | None = None, reason: str | None = None):
        super().__init__(DISABLED_MESSAGE)
        self.replacement = replacement
        self.reason = reason


class FileQuarantined(Forbidden):
    """A file an organisation's policy holds back (quarantined): not served from this repo until an admin
    releases it."""

    code = "FileQuarantined"


class NotFound(InhouseError):
    status = 404
    code = "NotFound"


class RepoNotFound(NotFound):
    code = "RepoNotFound"

    def __init__(self, message: str = "Repository not found", *, anonymous: bool = False):
        # Anonymous callers get 401 so that the client suggests logging in; the code stays RepoNotFound.
        super().__init__(message, status=401 if anonymous else 404)


class RevisionNotFound(NotFound):
    code = "RevisionNotFound"


class EntryNotFound(NotFound):
    """No file at that path; `commit` is the commit that was looked in, when there was one (clients remember the
    path as absent at that commit)."""

    code = "EntryNotFound"

    def __init__(self, message: str, *, commit: str | None = None):
        super().__init__(message)
        self.commit = commit


class GatedRepo(InhouseError):
    status = 403
    code = "GatedRepo"


class MethodNotAllowed(InhouseError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(InhouseError):
    status = 409
    code = "Conflict"


class RepoExists(Conflict):
    """A repo of that type and id exists already (huggingface_hub's create_repo(exist_ok=True) reads its URL).
    `url_path` is its web path: 'ns/name' for a model, 'datasets/ns/name' for a dataset."""

    def __init__(self, message: str, *, url_path: str):
        super().__init__(message)
        self.url_path = url_path


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
    """No byte of the asked range lies in the `size` bytes there are."""

    status = 416
    code = "RangeNotSatisfiable"

    def __init__(self, message: str, *, size: int):
        super().__init__(message)
        self.size = size


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
