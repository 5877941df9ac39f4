"""The kit's pytest plugin: load it with ``pytest_plugins = ["fooddelivery.testing.plugin"]`` in a ``conftest.py``.

It does three things:

- restores the ``fooddelivery`` loggers after each test (their handlers, level and propagation): an entrypoint's
  set-up (:func:`fooddelivery.observability.setup.configure`, run by the CLI, ``serve`` and the cloud
  entrypoints) gives them their own handler and stops propagation, which would otherwise outlive the test that
  ran it and hide later tests' records from ``caplog``;
- registers the kit's modules for assertion rewriting (so a failing contract assertion shows the values), which
  must happen before they are imported -- hence a plugin rather than an import;
- after the run, prints one line per adapter set that ran the conformance scenarios
  (:mod:`fooddelivery.testing.conformance`), for example
  ``conformance[sqlite]: 27 passed, 0 failed, 0 skipped of 27 scenarios``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite(
    "fooddelivery.testing.builders",
    "fooddelivery.testing.contracts",
    "fooddelivery.testing.conformance",
    "fooddelivery.testing.http_parity",
)

__all__ = ["CONFORMANCE_MARK"]

#: The marker every conformance scenario carries, with the adapter set's name as its argument.
CONFORMANCE_MARK = "conformance"

_RESULTS: dict[str, Counter[str]] = {}


@pytest.fixture(autouse=True)
def _fooddelivery_loggers_restored() -> Iterator[None]:
    """Put the ``fooddelivery`` loggers back as they were before the test (see the module docstring)."""
    logger, root = logging.getLogger("fooddelivery"), logging.getLogger()
    saved = (list(logger.handlers), logger.level, logger.propagate, list(root.handlers))
    yield
    logger.handlers[:], logger.level, logger.propagate, root.handlers[:] = saved


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``conformance(set_name)`` marker (the suite runs with ``--strict-markers``)."""
    config.addinivalue_line("markers", f"{CONFORMANCE_MARK}(adapter_set): a conformance scenario on an adapter set")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every scenario of a :class:`~fooddelivery.testing.conformance.ConformanceSuite` subclass with its set."""
    from fooddelivery.testing.conformance import ConformanceSuite

    for item in items:
        cls = getattr(item, "cls", None)
        if isinstance(cls, type) and issubclass(cls, ConformanceSuite):
            item.add_marker(pytest.mark.conformance(cls.adapter_set_name))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Count each conformance scenario's outcome under its adapter set's name."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    marker = item.get_closest_marker(CONFORMANCE_MARK)
    if marker is None or not marker.args:
        return
    name = str(marker.args[0])
    counts = _RESULTS.setdefault(name, Counter())
    if report.when == "call":
        counts[report.outcome] += 1
    elif report.when == "setup" and report.outcome != "passed":
        counts["skipped" if report.skipped else "failed"] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per adapter set: how many scenarios passed, failed and were skipped."""
    for name in sorted(_RESULTS):
        counts = _RESULTS[name]
        total = sum(counts.values())
        terminalreporter.write_line(
            f"conformance[{name}]: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped of {total} scenarios"
        )
