"""JSON log lines: exactly one line per record under any line splitter a log shipper may use."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from fooddelivery.observability.logs import JsonLogFormatter, LogSettings, bind, configure_logging

#: Every character ``str.splitlines()`` breaks a line at (https://docs.python.org/3/library/stdtypes.html#str.splitlines).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="json"), stream=out)
    try:
        yield out
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def test_a_message_and_a_field_with_every_line_break_give_one_json_line_each(stream: io.StringIO) -> None:
    log = logging.getLogger("fooddelivery.test")
    message = f"a{LINE_BREAKS}b"
    with bind(order_id=f"ord{LINE_BREAKS}1"):
        log.warning("first %s", message)
        log.warning("second")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == f"first {message}"
    assert first["order_id"] == f"ord{LINE_BREAKS}1"
    assert second["message"] == "second"
    assert "\u2028" not in lines[0] and "\u2029" not in lines[0] and "\x85" not in lines[0]


def test_non_ascii_text_other_than_line_breaks_is_kept_as_is() -> None:
    record = logging.LogRecord("fooddelivery.test", logging.INFO, __file__, 1, "Café \u00e9 \u4e2d\u2028", None, None)
    line = JsonLogFormatter().format(record)
    assert "Café é 中\\u2028" in line
    assert json.loads(line)["message"] == "Café \u00e9 \u4e2d\u2028"
