"""Unit tests of the pure domain (no adapters, no I/O)."""
