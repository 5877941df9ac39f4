"""A cloud entrypoint's logging: the function host's own root handlers get the format (lines stay where the
platform collects them), and nothing is added when the host has installed some."""

from __future__ import annotations

import io
import json
import logging

from fooddelivery.observability.logs import LogSettings, configure_logging


def test_the_platform_mode_formats_the_hosts_root_handlers_and_keeps_propagation() -> None:
    collected = io.StringIO()
    host = logging.StreamHandler(collected)  # what a Lambda runtime or a Functions worker installs on the root
    root = logging.getLogger()
    root.addHandler(host)
    try:
        handlers = configure_logging(LogSettings(log_format="json"), platform=True)
        record = logging.LogRecord("fooddelivery.x", logging.INFO, __file__, 1, "paid %s", ("ord-1",), None)
        record.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
        logging.getLogger("fooddelivery.x").handle(record)
    finally:
        root.removeHandler(host)

    assert host in handlers
    assert logging.getLogger("fooddelivery").propagate is True
    assert logging.getLogger("fooddelivery").handlers == []
    line = json.loads(collected.getvalue())
    assert line["message"] == "paid ord-1"
    assert line["logger"] == "fooddelivery.x"
    assert line["aws_request_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
