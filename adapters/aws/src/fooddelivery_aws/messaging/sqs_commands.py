"""Saga commands on the saga FIFO queue (``SAGA_QUEUE_URL``): today, "resume this instance".

A resume command (the core's ``fooddelivery.application.messages.resume_body``) continues a saga instance left
RUNNING by an interrupted invocation (the SQS consumer hands it to the core's ``OrderRuntime.on_resume``, a no-op for
an instance that is not RUNNING). It is the operator's redrive tool and what a
watchdog would send; the consumer resumes on its own when a stale timer reveals an interrupted instance.

FIFO attributes (Amazon SQS developer guide, "FIFO queue message group ID" and "message deduplication ID":
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagegroupid-property.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagededuplicationid-property.html):
``MessageGroupId`` = the saga (order) id, so a command is processed in order with that order's other messages and
in parallel with other orders'; ``MessageDeduplicationId`` = the caller's command id (up to 128 characters), so a
command sent twice within the 5-minute deduplication interval is delivered once.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Final

from fooddelivery.application.messages import resume_body
from fooddelivery.domain.errors import ValidationError
from fooddelivery_aws._clients import LazyClient, reraise

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["SqsSagaCommandBus"]

_MAX_GROUP_ID: Final[int] = 128


class SqsSagaCommandBus:
    """Sends saga commands to the saga FIFO queue.

    Args:
        queue_url: the saga FIFO queue.
        client: a boto3 SQS client; built lazily when None.
        region_name, endpoint_url: of a lazily built client.
    """

    def __init__(
        self,
        queue_url: str,
        *,
        client: SQSClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.queue_url = queue_url
        self._client: LazyClient[SQSClient] = LazyClient(
            "sqs", client, region_name=region_name, endpoint_url=endpoint_url
        )

    def resume(self, saga_id: str, command_id: str | None = None) -> None:
        """Ask the consumer to resume ``saga_id``.

        Args:
            saga_id: the instance (order id; ASCII, as SQS group ids must be).
            command_id: deduplication id (default: a new one, so every call is a new command).

        Raises:
            ValidationError: a saga id SQS cannot use as a message group id.
            InfrastructureError: SQS refused.
        """
        if not saga_id or len(saga_id) > _MAX_GROUP_ID or not saga_id.isascii() or not saga_id.isprintable():
            raise ValidationError.single("sagaId", "must be 1..128 printable ASCII characters", "invalid")
        try:
            self._client.get().send_message(
                QueueUrl=self.queue_url,
                MessageBody=resume_body(saga_id),
                MessageGroupId=saga_id,
                MessageDeduplicationId=command_id or uuid.uuid4().hex,
            )
        except Exception as exc:
            reraise(exc, "sqs", "SendMessage", saga_id=saga_id)
