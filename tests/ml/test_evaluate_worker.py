"""The evaluation.candidate kind through the real worker process (`python -m inhouse.ml.worker`), which sets the
hub endpoint and token from the payload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.ml.test_evaluate import owner, payload
from tests.support import tiny_models as tm
from tests.support.live import LiveServer


def test_through_the_worker_process(server: LiveServer, tmp_path: Path) -> None:
    """The real worker runs the kind with the payload's endpoint and token and streams progress, then the result."""
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/clf", tm.model("sequence-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(20))
    body = {**payload("text-classification", f"{name}/reviews", f"{name}/clf", token),
            "endpoint": server.url, "cache_dir": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "inhouse.ml.worker"], input=json.dumps(body).encode(),
                          capture_output=True, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and events[-1]["event"] == "result", (events[-1:], proc.stderr[-2000:])
    result = events[-1]["result"]
    assert result["examples"] == 20 and result["rows"][0]["status"] == "ok"
    assert any(e["event"] == "progress" for e in events)
