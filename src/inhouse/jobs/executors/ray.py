"""The Ray executor: one Ray task per job task, so a company fans its work out over its Ray cluster. Each Ray task
runs the same worker subprocess as the local executor on its node and streams the worker's events back (a
streaming generator). Cancel is `ray.cancel(force=True)`: the Ray worker process dies, and the worker subprocess,
whose parent it was, ends itself (its parent watchdog).

`ray` is imported here only inside functions: the hub imports this module without Ray installed (the `ray` extra).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from inhouse.jobs import events
from inhouse.jobs.executors.base import ExitInfo


def run_on_node(payload: dict[str, Any], python: str | None) -> Iterator[dict[str, Any]]:
    """The body of one Ray task (a generator): the worker subprocess on this node, its events yielded as they
    come. A non-forced cancel lands here as an exception: the worker's process group is stopped on the way out."""
    from inhouse.jobs.executors.local import start_worker

    handle = start_worker(payload, python=python)
    try:
        yield {"event": "log", "level": "info", "message": f"worker pid {handle.pid} on a Ray node"}
        yield from handle.events()
    finally:
        if handle.proc.poll() is None:
            handle.cancel()


class RayHandle:
    def __init__(self, generator: Any, *, memory_limited: bool):
        self._generator = generator
        self._memory_limited = memory_limited
        self._cancelled = threading.Event()
        self._done = threading.Event()

    def events(self) -> Iterator[dict[str, Any]]:
        import ray

        try:
            for ref in self._generator:
                event = ray.get(ref)
                yield event
                if events.is_last(event):
                    return
            yield events.died(None, memory_limited=self._memory_limited)
        except ray.exceptions.TaskCancelledError:
            yield events.error(events.ErrorCode.CANCELLED.value, "The Ray task was cancelled.")
        except ray.exceptions.RayError as e:
            yield events.error(events.ErrorCode.CRASHED.value,
                               f"The Ray task failed: {type(e).__name__}: {str(e)[:2000]}")
        finally:
            self._done.set()

    def cancel(self) -> None:
        import ray

        if self._cancelled.is_set():
            return
        self._cancelled.set()
        try:
            ray.cancel(self._generator, force=True)
        except Exception:  # noqa: BLE001 - already finished, or the cluster went away: nothing left to stop
            pass

    def wait(self) -> ExitInfo:
        self._done.wait()
        return ExitInfo(None)


class RayExecutor:
    name = "ray"

    def __init__(self, *, address: str = "", num_cpus: int | None = None, python: str | None = None,
                 task_cpus: float = 1.0):
        self.address = address
        self.num_cpus = num_cpus
        self.python = python
        self.task_cpus = task_cpus
        self._remote: Any = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def _init(self) -> None:
        import ray

        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)

    def _keeper(self, started: threading.Event, failed: list[BaseException]) -> None:
        """Starts Ray and then stays alive until the executor closes. A local Ray instance's processes (GCS,
        raylet) are started with PR_SET_PDEATHSIG, which fires when the *thread* that started them ends: started
        from a task's thread, Ray would be killed as soon as that task finished."""
        try:
            self._init()
        except BaseException as e:  # noqa: BLE001 - handed to the thread that asked
            failed.append(e)
        finally:
            started.set()
        self._closed.wait()

    def _ensure(self) -> Any:
        with self._lock:
            if self._remote is None:
                import ray

                if not ray.is_initialized():
                    started, failed = threading.Event(), list[BaseException]()
                    threading.Thread(target=self._keeper, args=(started, failed), name="inhouse-ray",
                                     daemon=True).start()
                    started.wait()
                    if failed:
                        raise failed[0]
                self._remote = ray.remote(run_on_node).options(
                    num_returns="streaming", max_retries=0, num_cpus=self.task_cpus)
            return self._remote

    def start(self, payload: dict[str, Any]) -> RayHandle:
        remote = self._ensure()
        memory = (payload.get("limits") or {}).get("memory_bytes")
        return RayHandle(remote.remote(payload, self.python), memory_limited=bool(memory))

    def close(self) -> None:
        self._closed.set()  # a Ray instance this process started ends with it; a cluster's is not ours to stop
