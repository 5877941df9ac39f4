"""Adapters shipped with the core: ``memory`` (in-memory, for tests, local runs and the simulation) and ``sqlite``
(standard-library SQLite, the embedded default of ``fooddelivery serve``). ``fake_processor`` holds the rules of the
fake card processor that both packages' payment gateways share.
"""
