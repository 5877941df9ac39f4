"""The AWS deployment's settings: typed, read from the environment in one place, validated at cold start.

Every Lambda function of the stack reads the same variables (the SAM template sets them; names below). A missing
required variable fails :meth:`AwsSettings.from_env` with an error naming it, so a misconfigured function fails
its first invocation loudly instead of half-working.

==============================  ========================================================================
variable                        meaning
==============================  ========================================================================
``ORDERS_TABLE``                orders (with their outbox and idempotency items) - required
``RESTAURANTS_TABLE``           restaurants - required
``DRIVERS_TABLE``               drivers - required
``SAGAS_TABLE``                 saga instances, plus the timer and notification ledgers - required
``OUTBOX_TABLE``                a dedicated outbox table - optional (default: the outbox is in ORDERS_TABLE)
``EVENT_BUS_NAME``              the EventBridge bus order events are published to - required
``SAGA_QUEUE_URL``              the SQS FIFO queue of the saga's events (sent by the outbox relay) and saga
                                commands - required
``TIMER_QUEUE_URL``             the SQS *standard* queue carrying saga timers (see ``SqsScheduler``) -
                                required in ``queue`` mode
``NOTIFICATIONS_TOPIC_ARN``     SNS topic of customer and restaurant notifications - required
``ALERTS_TOPIC_ARN``            SNS topic of operations alerts - required
``LOCATION_STREAM_NAME``        Kinesis stream of driver positions - required
``PAYMENT_SECRET_ARN``          Secrets Manager secret of the payment processor key - optional
``FOODDELIVERY_SAGA_MODE``      ``queue`` (default) or ``stepfunctions``
``STATE_MACHINE_ARN``           the order saga's state machine - required in ``stepfunctions`` mode
``AWS_ENDPOINT_URL``            one endpoint for every AWS client (moto, LocalStack) - optional
``AWS_REGION``                  region of the clients - optional (the Lambda runtime always sets it)
``FOODDELIVERY_*``              the core's settings (:class:`fooddelivery.bootstrap.Settings`)
==============================  ========================================================================

``TIMER_QUEUE_URL`` is the one variable beyond the original list: SQS FIFO queues refuse per-message
``DelaySeconds`` ("FIFO queues don't support per-message delays, only per-queue delays":
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html), so the saga's
timers travel on a standard queue of their own.

Nothing here touches AWS; reading settings is pure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from fooddelivery.bootstrap import Settings
from fooddelivery.domain.errors import ValidationError

__all__ = ["AwsSettings", "SagaMode"]


class SagaMode(StrEnum):
    """Where the order saga runs."""

    QUEUE = "queue"
    """The core's saga runner in the SQS consumer; state in DynamoDB, timers on the timer queue (default)."""
    STEPFUNCTIONS = "stepfunctions"
    """The generated state machine (``fooddelivery_aws.stepfunctions``)."""


def _missing(variable: str, why: str = "") -> ValidationError:
    return ValidationError.single(variable, f"environment variable {variable} is not set{why}", "required")


@dataclass(frozen=True, slots=True)
class AwsSettings:
    """Every setting of the AWS deployment (see the module docstring for the variables).

    Attributes:
        orders_table, restaurants_table, drivers_table, sagas_table: table names.
        event_bus_name: the EventBridge bus.
        saga_queue_url: the FIFO saga queue.
        notifications_topic_arn: customers/restaurants topic.
        alerts_topic_arn: operations alerts topic.
        location_stream_name: the Kinesis stream.
        outbox_table: a dedicated outbox table, or None.
        timer_queue_url: the standard timer queue (required in queue mode), or None.
        payment_secret_arn: the payment key secret, or None.
        saga_mode: queue or stepfunctions.
        state_machine_arn: the order saga's state machine (stepfunctions mode), or None.
        endpoint_url: one endpoint for every client (tests, local stacks), or None for the real services.
        region_name: the clients' region, or None for boto3's own resolution.
        core: the core's settings (``FOODDELIVERY_*``).
    """

    orders_table: str
    restaurants_table: str
    drivers_table: str
    sagas_table: str
    event_bus_name: str
    saga_queue_url: str
    notifications_topic_arn: str
    alerts_topic_arn: str
    location_stream_name: str
    outbox_table: str | None = None
    timer_queue_url: str | None = None
    payment_secret_arn: str | None = None
    saga_mode: SagaMode = SagaMode.QUEUE
    state_machine_arn: str | None = None
    endpoint_url: str | None = None
    region_name: str | None = None
    core: Settings = field(default_factory=Settings)

    def __post_init__(self) -> None:
        if self.saga_mode is SagaMode.QUEUE and not self.timer_queue_url:
            raise _missing("TIMER_QUEUE_URL", " (needed with FOODDELIVERY_SAGA_MODE=queue)")
        if self.saga_mode is SagaMode.STEPFUNCTIONS and not self.state_machine_arn:
            raise _missing("STATE_MACHINE_ARN", " (needed with FOODDELIVERY_SAGA_MODE=stepfunctions)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsSettings:
        """Read and validate every variable.

        Args:
            environ: the environment (default ``os.environ``).

        Raises:
            ValidationError: a required variable is missing or empty (the field error names it), the saga mode is
                unknown, or a ``FOODDELIVERY_*`` number is invalid.
        """
        env = os.environ if environ is None else environ

        def required(variable: str) -> str:
            value = env.get(variable, "").strip()
            if not value:
                raise _missing(variable)
            return value

        def optional(variable: str) -> str | None:
            return env.get(variable, "").strip() or None

        raw_mode = env.get("FOODDELIVERY_SAGA_MODE", "").strip().lower() or SagaMode.QUEUE.value
        try:
            mode = SagaMode(raw_mode)
        except ValueError:
            raise ValidationError.single(
                "FOODDELIVERY_SAGA_MODE", f"must be 'queue' or 'stepfunctions', got {raw_mode!r}", "invalid"
            ) from None
        return cls(
            orders_table=required("ORDERS_TABLE"),
            restaurants_table=required("RESTAURANTS_TABLE"),
            drivers_table=required("DRIVERS_TABLE"),
            sagas_table=required("SAGAS_TABLE"),
            event_bus_name=required("EVENT_BUS_NAME"),
            saga_queue_url=required("SAGA_QUEUE_URL"),
            notifications_topic_arn=required("NOTIFICATIONS_TOPIC_ARN"),
            alerts_topic_arn=required("ALERTS_TOPIC_ARN"),
            location_stream_name=required("LOCATION_STREAM_NAME"),
            outbox_table=optional("OUTBOX_TABLE"),
            timer_queue_url=optional("TIMER_QUEUE_URL"),
            payment_secret_arn=optional("PAYMENT_SECRET_ARN"),
            saga_mode=mode,
            state_machine_arn=optional("STATE_MACHINE_ARN"),
            endpoint_url=optional("AWS_ENDPOINT_URL"),
            region_name=optional("AWS_REGION"),
            core=Settings.from_env(env),
        )
