"""A cloud entrypoint's logging: the function host's own root handlers get the format (lines stay where the
platform collects them), and nothing is added when the host has installed some."""

from __future__ import annotations

import io
import json
import logging

from fooddelivery.observability.logs import LogSettings, bind, configure_logging


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


def test_the_text_format_keeps_the_hosts_own_line_with_its_request_id_and_appends_the_fields() -> None:
    collected = io.StringIO()
    host = logging.StreamHandler(collected)
    # the Lambda Python runtime's format (awslambdaric's bootstrap)
    host.setFormatter(logging.Formatter("[%(levelname)s]\t%(aws_request_id)s\t%(message)s\n"))
    root = logging.getLogger()
    root.addHandler(host)
    try:
        configure_logging(LogSettings(log_format="text"), platform=True)
        configure_logging(LogSettings(log_format="text"), platform=True)  # idempotent: not wrapped twice
        for name, message in (("fooddelivery.x", "paid"), ("botocore.x", "third-party")):
            record = logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), None)
            record.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
            with bind(order_id="ord-1"):
                logging.getLogger(name).handle(record)
    finally:
        root.removeHandler(host)

    assert collected.getvalue().splitlines() == [
        "[WARNING]\tc6af9ac6-7b61-11e6-9a41-93e8deadbeef\tpaid order_id=ord-1",
        "",
        "[WARNING]\tc6af9ac6-7b61-11e6-9a41-93e8deadbeef\tthird-party order_id=ord-1",
        "",
    ]
