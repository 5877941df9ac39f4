"""``serve``'s log lines in the JSON format: every line standard error gets is one JSON object, uvicorn's too."""

from __future__ import annotations

import json
from pathlib import Path

from ._live import LiveServer, free_port


def test_serve_writes_one_json_object_per_line_with_FOODDELIVERY_LOG_FORMAT_json(tmp_path: Path) -> None:
    server = LiveServer(
        db=tmp_path / "serve.db", port=free_port(), log=tmp_path / "serve.log", env={"FOODDELIVERY_LOG_FORMAT": "json"}
    )
    server.start()
    try:
        assert server.request("GET", "/health").status == 200
    finally:
        assert server.stop() == 0

    lines = [json.loads(line) for line in server.output().splitlines()]
    by_logger = {(line["logger"], line["message"].split(" ")[0]) for line in lines}
    assert ("fooddelivery.server", "listening") in by_logger
    assert ("uvicorn.error", "Application") in by_logger  # uvicorn's own lines share the format
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    # the start-up's readiness probe and the test's request
    assert len(access) >= 2 and all('"GET /health HTTP/1.1" 200' in line["message"] for line in access)
    assert {line["level"] for line in lines} <= {"INFO", "WARNING"}
    assert all(line["time"].endswith("+00:00") for line in lines)
