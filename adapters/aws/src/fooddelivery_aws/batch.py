"""Partial batch responses of Lambda event source mappings (SQS, Kinesis, DynamoDB Streams).

A handler that returns ``{"batchItemFailures": [{"itemIdentifier": ...}, ...]}`` has only the listed records
retried; an empty list means every record succeeded. The identifier is the SQS ``messageId``, or the
``SequenceNumber`` of a Kinesis / DynamoDB Streams record (for streams, Lambda retries from the lowest reported
sequence number). The event source mapping must enable ``FunctionResponseTypes: [ReportBatchItemFailures]``.

Sources: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting,
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchItemFailures"]


@dataclass(slots=True)
class BatchItemFailures:
    """The failed records of one batch, in the order they failed (each identifier once).

    Attributes:
        identifiers: message ids or sequence numbers.
    """

    identifiers: list[str] = field(default_factory=list)

    def add(self, identifier: str) -> None:
        """Report ``identifier`` as failed (again is a no-op)."""
        if identifier not in self.identifiers:
            self.identifiers.append(identifier)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self.identifiers

    def __len__(self) -> int:
        return len(self.identifiers)

    def response(self) -> dict[str, Any]:
        """The handler's return value."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.identifiers]}
