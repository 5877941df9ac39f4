"""Adapters shipped with the core: ``memory`` (in-memory, for tests, local runs and the simulation)."""
