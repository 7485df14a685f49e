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


AUDITED_RUN = """
import json, runpy, socket, sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event == "socket.connect":
        log.write(json.dumps([str(a) for a in (args[1] if isinstance(args[1], tuple) else (args[1],))]) + "\\n")
        log.flush()
    elif event == "socket.getaddrinfo":
        log.write(json.dumps(["resolve", str(args[0])]) + "\\n")
        log.flush()
sys.addaudithook(hook)
sys.argv = ["inhouse.ml.worker"]
runpy.run_module("inhouse.ml.worker", run_name="__main__")
"""


def test_a_worker_reaches_no_address_but_the_hub(server: LiveServer, tmp_path: Path) -> None:
    """Every connection the worker opens (loading the data and the model, building the int8 and ONNX variants,
    scoring) goes to inhouse: Python's audit hook sees each socket.connect and each name lookup. (It caught
    `datasets` sending every dataset's name to s3.amazonaws.com, its download counter.)"""
    name, token, api = owner(server)
    tm.push_model(api, f"{name}/clf", tm.model("sequence-classification"), tm.tokenizer())
    tm.push_dataset(api, f"{name}/reviews", tm.sentiment_rows(20))
    body = {**payload("text-classification", f"{name}/reviews", f"{name}/clf", token,
                      variants=["int8", "onnx-int8"]),
            "endpoint": server.url, "cache_dir": str(tmp_path / "cache")}
    connections = tmp_path / "connections.jsonl"
    proc = subprocess.run([sys.executable, "-c", AUDITED_RUN, str(connections)], input=json.dumps(body).encode(),
                          capture_output=True, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and events[-1]["event"] == "result", (events[-1:], proc.stderr[-2000:])
    assert [r["status"] for r in events[-1]["result"]["rows"]] == ["ok", "ok", "ok"]
    seen = [json.loads(line) for line in connections.read_text().splitlines()]
    assert seen, "the worker loaded through the hub, so it connected somewhere"
    port = server.url.rsplit(":", 1)[1]
    for entry in seen:
        if entry[0] == "resolve":
            assert entry[1] in ("127.0.0.1", "localhost"), entry
        else:
            assert entry[:2] == ["127.0.0.1", port] or entry[0].startswith("/"), entry  # the hub, or a local socket
