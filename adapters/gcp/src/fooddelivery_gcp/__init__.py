"""Google Cloud adapters and Cloud Functions entrypoints for the fooddelivery core."""

__version__ = "0.1.0"
