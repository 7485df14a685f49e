"""The words the hub speaks, as types: what kind a repo is.

Each is a `StrEnum`, so a value is still the very string the JSON API, the CLI and the database hold ("model",
"datasets/…"): nothing is migrated. The edges (web handlers, the CLI, the stores reading rows) turn strings into
these types once, with `parse`; everything inside takes and compares the types.
"""

from __future__ import annotations

from enum import StrEnum

from inhouse.errors import BadRequest


def _choices(kind: type[StrEnum]) -> str:
    return ", ".join(m.value for m in kind)


class RepoType(StrEnum):
    """What a repo holds. Its URLs: `/api/models/…` and `/ns/name` for a model, `/api/datasets/…` and
    `/datasets/ns/name` for a dataset, `/api/spaces/…` and `/spaces/ns/name` for a space."""

    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        """'models', 'datasets', 'spaces': the word in `/api/{plural}/…`."""
        return f"{self.value}s"

    @property
    def url_prefix(self) -> str:
        """What comes before 'ns/name' in the repo's web path: '' for a model, 'datasets/' for a dataset."""
        return "" if self is RepoType.MODEL else f"{self.plural}/"

    @classmethod
    def from_plural(cls, plural: str) -> RepoType:
        """The type a route's `/api/{plural}/` or `/{plural}/` prefix names (the router admits only these)."""
        return cls(plural.removesuffix("s"))

    @classmethod
    def parse(cls, value: object) -> RepoType:
        """A repo type sent by a client; a missing one (None or '') is a model, as on the Hub."""
        if value is None or value == "":
            return cls.MODEL
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        raise BadRequest(f"Invalid repo type {str(value)[:100]!r}: use one of {_choices(cls)}.")
