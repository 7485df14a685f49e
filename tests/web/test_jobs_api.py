"""GET /api/jobs…, POST /api/jobs/{id}/cancel and `inhouse jobs`, against a live server running selftest jobs:
own jobs only (another user's is 404 exactly like a missing one), site admins everyone's, cancel audited."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from inhouse.cli.main import main as cli
from inhouse.jobs import queue
from inhouse.services import audit as audit_service
from inhouse.storage.db import users as user_store
from tests.support.live import LiveServer


def _uid(server: LiveServer, name: str) -> int:
    with server.stores.db.read() as conn:
        user = user_store.user_by_name(conn, name)
    assert user is not None
    return user.id


def _submit(server: LiveServer, owner: str, tasks: list[tuple[str, dict[str, Any]]]) -> int:
    """Rows are the truth: the server's dispatcher finds the job in the database."""
    with server.stores.db.write() as conn:
        return queue.submit(conn, "selftest", _uid(server, owner), {"from": "test"}, tasks).id


def _get(server: LiveServer, path: str, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(server.url + path, headers=headers, params=params, timeout=30)


def _wait_state(server: LiveServer, job_id: int, token: str, states: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = _get(server, f"/api/jobs/{job_id}", token).json()
        if job["state"] in states:
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {states}")


def test_owners_see_their_jobs_others_get_404_as_for_a_missing_one(server: LiveServer) -> None:
    alice, bob, admin = server.make_user(), server.make_user(), server.make_user(admin=True)
    ta, tb, tadmin = server.make_token(alice, "read"), server.make_token(bob, "read"), server.make_token(admin, "read")
    job_id = _submit(server, alice, [("one", {"steps": 3, "step_s": 0.02})])
    job = _wait_state(server, job_id, ta, ("succeeded", "failed"))
    assert job["state"] == "succeeded" and job["owner"] == alice and job["kind"] == "selftest"
    assert job["progress"] == 1.0 and job["createdAt"] and job["startedAt"] and job["finishedAt"]
    assert job["spec"] == {"from": "test"} and job["executor"] == "local"
    (task,) = job["tasks"]
    assert task["state"] == "succeeded" and task["result"]["steps"] == 3 and task["error"] is None

    assert job_id in [j["id"] for j in _get(server, "/api/jobs", ta).json()]
    assert job_id not in [j["id"] for j in _get(server, "/api/jobs", tb).json()]
    theirs, missing = _get(server, f"/api/jobs/{job_id}", tb), _get(server, "/api/jobs/2000000000", tb)
    assert theirs.status_code == missing.status_code == 404
    assert (theirs.headers["X-Error-Message"].replace(str(job_id), "N")
            == missing.headers["X-Error-Message"].replace("2000000000", "N"))
    assert _get(server, f"/api/jobs/{job_id}/logs", tb).status_code == 404
    assert _get(server, f"/api/jobs/{job_id}", None).status_code == 401
    assert _get(server, "/api/jobs", tb, all="1").status_code == 403

    assert _get(server, f"/api/jobs/{job_id}", tadmin).json()["owner"] == alice
    assert job_id in [j["id"] for j in _get(server, "/api/jobs", tadmin, all="1").json()]
    assert job_id not in [j["id"] for j in _get(server, "/api/jobs", tadmin).json()]  # without all=1: their own

    lines = _get(server, f"/api/jobs/{job_id}/logs", ta).json()
    assert any(line["message"].startswith("selftest pid ") for line in lines)
    later = _get(server, f"/api/jobs/{job_id}/logs", ta, after=str(lines[1]["id"])).json()
    assert [line["id"] for line in later] == [line["id"] for line in lines[2:]]
    assert _get(server, "/api/jobs/abc", ta).status_code == 400


def test_cancel_stops_the_job_is_audited_and_refused_to_others(server: LiveServer) -> None:
    alice, bob = server.make_user(), server.make_user()
    ta, tb = server.make_token(alice, "write"), server.make_token(bob, "write")
    job_id = _submit(server, alice, [("long", {"steps": 600, "step_s": 0.1})])
    _wait_state(server, job_id, ta, ("running",))
    refused = httpx.post(f"{server.url}/api/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {tb}"})
    assert refused.status_code == 404
    ok = httpx.post(f"{server.url}/api/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {ta}"})
    assert ok.status_code == 200 and ok.json()["cancelRequestedAt"]
    job = _wait_state(server, job_id, ta, ("cancelled", "succeeded", "failed"))
    assert job["state"] == "cancelled" and job["tasks"][0]["state"] == "cancelled"
    again = httpx.post(f"{server.url}/api/jobs/{job_id}/cancel", headers={"Authorization": f"Bearer {ta}"})
    assert again.status_code == 409
    entries = list(audit_service.export(server.stores, None, audit_service.Filters(action="job.cancel", actor=alice)))
    assert [(e["actor"], e["details"]["job"]) for e in entries] == [(alice, job_id)]


def test_the_jobs_cli(server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    alice = server.make_user()
    token = server.make_token(alice, "write")
    done = _submit(server, alice, [("quick", {"steps": 2})])
    _wait_state(server, done, token, ("succeeded",))
    opts = ["--endpoint", server.url, "--token", token]
    assert cli(["jobs", "list", *opts]) == 0
    assert f"{done}\tselftest\tsucceeded\t100%" in capsys.readouterr().out
    assert cli(["jobs", "show", str(done), *opts]) == 0
    assert "task 0 quick: succeeded 100%" in capsys.readouterr().out
    assert cli(["jobs", "logs", str(done), *opts]) == 0
    assert "selftest pid" in capsys.readouterr().out
    long = _submit(server, alice, [("long", {"steps": 600, "step_s": 0.1})])
    assert cli(["jobs", "cancel", str(long), *opts]) == 0
    assert "cancel requested" in capsys.readouterr().out
    assert _wait_state(server, long, token, ("cancelled",))["state"] == "cancelled"
    assert cli(["jobs", "show", "999999", *opts]) == 1
    assert "404" in capsys.readouterr().err
