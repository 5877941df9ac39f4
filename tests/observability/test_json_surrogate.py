"""Found in review: a JSON log record whose message holds a lone surrogate (which a JSON request body's
``"\\ud800"`` escape produces in a Python str) is not written: ``json.dumps(..., ensure_ascii=False)`` leaves the
surrogate raw, the UTF-8 stream refuses it, and logging prints a multi-line "--- Logging error ---" traceback to
stderr instead of the one JSON line the formatter promises."""

from __future__ import annotations

import io
import json
import logging

from fooddelivery.observability.logs import LogSettings, configure_logging


def test_a_lone_surrogate_in_a_message_still_gives_one_json_line() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # what stdout/stderr are on Lambda and in containers
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="json"), stream=stream)
    try:
        logging.getLogger("fooddelivery.test").warning("restaurant name %s refused", "x\ud800y")
        stream.flush()
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    lines = stream.buffer.getvalue().decode("utf-8").splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1
    assert json.loads(lines[0])["message"].startswith("restaurant name x")
