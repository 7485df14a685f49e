"""Jobs in a live server process: it never loads torch while running them, and a job interrupted by the server's
death is resumed by the next start (its worker does not outlive the server)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inhouse.jobs import queue
from inhouse.storage.db import users as user_store
from tests.jobs.conftest import alive, wait_for
from tests.support.live import LiveServer


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _loads_torch(maps: str) -> bool:
    """torch's native library is mapped into every process that imported torch."""
    return "libtorch" in maps or "/torch/_C" in maps


def _submit(server: LiveServer, owner: str, tasks: list[tuple[str, dict[str, Any]]]) -> int:
    with server.stores.db.write() as conn:
        user = user_store.user_by_name(conn, owner)
        assert user is not None
        return queue.submit(conn, "selftest", user.id, {}, tasks).id


def _job(server: LiveServer, job_id: int, token: str) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"},
                          timeout=30).json())


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "data", env={"INHOUSE_JOB_MAX_ATTEMPTS": "2"}).start()
    yield srv
    srv.close()


def test_the_server_process_never_loads_torch_while_running_jobs(server: LiveServer) -> None:
    probe = subprocess.run([sys.executable, "-c", "import torch, os; print(open(f'/proc/{os.getpid()}/maps').read())"],
                           capture_output=True, text=True, timeout=120)
    assert _loads_torch(probe.stdout), "the check must see torch in a process that imported it"

    owner = server.make_user()
    token = server.make_token(owner, "read")
    job_id = _submit(server, owner, [("a", {"steps": 2})])
    wait_for(lambda: _job(server, job_id, token)["state"] == "succeeded", what="the job to succeed")
    assert server.proc is not None
    assert not _loads_torch(_maps(server.proc.pid))


def test_a_job_interrupted_by_the_servers_death_is_resumed_at_the_next_start(own_server: LiveServer) -> None:
    owner = own_server.make_user()
    token = own_server.make_token(owner, "read")
    job_id = _submit(own_server, owner, [("t", {"steps": 20, "step_s": 0.1})])

    def pid() -> int | None:
        with own_server.stores.db.read() as conn:
            for line in queue.logs(conn, job_id):
                if line.message.startswith("selftest pid "):
                    return int(line.message.split()[-1])
        return None

    first = int(wait_for(pid, what="the worker to start"))
    own_server.kill()  # SIGKILL: no shutdown, the rows stay 'running'
    wait_for(lambda: not alive(first), timeout=20, what="the orphaned worker to exit")
    with own_server.stores.db.read() as conn:
        assert [t.state.value for t in queue.tasks(conn, job_id)] == ["running"]

    own_server.start()
    job = wait_for(lambda: (lambda j: j if j["state"] in ("succeeded", "failed") else None)(
        _job(own_server, job_id, token)), what="the resumed job to end")
    assert job["state"] == "succeeded" and job["tasks"][0]["attempts"] == 2
    lines = httpx.get(f"{own_server.url}/api/jobs/{job_id}/logs", headers={"Authorization": f"Bearer {token}"}).json()
    assert any("interrupted by a server restart; queued again" in line["message"] for line in lines)
