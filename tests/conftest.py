"""Shared pytest set-up for every suite under ``tests``: the shipped kit's plugin (assertion rewriting of the
contract suites, builders and conformance scenarios; the per-adapter-set conformance summary)."""

pytest_plugins = ["fooddelivery.testing.plugin"]
