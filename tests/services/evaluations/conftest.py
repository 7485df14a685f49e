"""`make_candidate`: a Candidate factory for the leaderboard, Pareto, recommendation and picture tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inhouse.services.evaluations.candidates import Candidate, Interval

MakeCandidate = Callable[..., Candidate]


@pytest.fixture
def make_candidate() -> MakeCandidate:
    def make(
        label: str,
        quality: float | None = 0.9,
        low: float | None = None,
        high: float | None = None,
        *,
        cost: float | None = 1.0,
        latency: float | None = 10.0,
        memory: int | None = 100_000_000,
        parameters: int | None = 1_000_000,
        size: int | None = 4_000_000,
        status: str = "ok",
        error: str | None = None,
        higher_is_better: bool = True,
        metric: str = "accuracy",
        variant: str = "original",
    ) -> Candidate:
        interval = None
        if quality is not None:
            interval = Interval(quality, quality if low is None else low, quality if high is None else high)
        return Candidate(
            label=label,
            model=label.split(" ")[0],
            revision="0" * 40,
            variant=variant,
            status=status,
            quality=interval,
            higher_is_better=higher_is_better,
            latency_p50_ms=latency,
            peak_memory_bytes=memory,
            cost_per_million_usd=cost,
            size_bytes=size,
            parameters=parameters,
            error=error,
            metric=metric,
        )

    return make
