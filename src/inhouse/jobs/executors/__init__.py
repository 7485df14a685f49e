"""Where tasks run: `local` (worker subprocesses on this machine, the default) or `ray` (a Ray cluster)."""

from __future__ import annotations

from inhouse.config import Settings
from inhouse.errors import BadRequest
from inhouse.jobs.executors.base import Executor

EXECUTORS = ("local", "ray")


def build_executor(settings: Settings) -> Executor:
    """The executor `settings.job_executor` names."""
    if settings.job_executor == "local":
        from inhouse.jobs.executors.local import LocalExecutor

        return LocalExecutor(python=settings.worker_python or None)
    if settings.job_executor == "ray":
        from inhouse.jobs.executors.ray import RayExecutor

        return RayExecutor(address=settings.ray_address, num_cpus=max(1, settings.job_workers),
                           python=settings.worker_python or None)
    raise BadRequest(f"INHOUSE_JOB_EXECUTOR is '{settings.job_executor}'; use one of: {', '.join(EXECUTORS)}.")
