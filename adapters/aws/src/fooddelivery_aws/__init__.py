"""AWS adapters and Lambda entrypoints for the fooddelivery core.

Depends on the core and boto3 only; never on another cloud's package. Nothing connects at import time: clients
are injected or built lazily by :func:`fooddelivery_aws.clients.aws_clients`.
"""

__version__ = "0.1.0"
