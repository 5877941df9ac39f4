"""AWS adapters and Lambda entrypoints for the fooddelivery core.

Depends on the core and boto3 only; never on another cloud's package. Nothing connects at import time: every
adapter takes an injected boto3 client or builds one lazily on first use.
"""

__version__ = "0.1.0"
