"""Shared pytest set-up for every suite under ``tests``.

The contract suites and the builders live in plain modules imported by test modules (here and in
each cloud package's tests), so pytest is told to rewrite their ``assert`` statements too.
"""

import pytest

pytest.register_assert_rewrite("tests.builders", "tests.contract")
