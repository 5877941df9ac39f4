"""Generate ``deploy/aws/template.yaml`` (AWS SAM) from the code it deploys.

::

    python deploy/aws/build_template.py            # write template.yaml
    python deploy/aws/build_template.py --check    # exit 1 if the committed template is stale

Run it with an interpreter that has the core and ``fooddelivery_aws`` installed (``.venv-aws``). Nothing here is
copied by hand from the code; these are read from it:

- the DynamoDB tables, their keys, indexes, stream and TTL: :data:`fooddelivery_aws.dynamodb.tables.ALL_TABLES`
  (``TableSpec.cloudformation_properties``; the logical ids and the table-name variables are the specs' own);
- the API's routes, and which need credentials: :data:`fooddelivery.http.api.ROUTES`;
- the state machines: ``statemachine/*.asl.json`` (written by ``fooddelivery_aws.stepfunctions.generate``), by
  ``DefinitionUri``; every ``${...}`` placeholder in them must have a ``DefinitionSubstitutions`` entry here, and
  the restaurant's confirmation timeout the functions read is the callback task's ``TimeoutSeconds``;
- the runtime and architecture: ``build_artifact.RUNTIME`` / ``ARCHITECTURE`` (the artefact is built for them).

What the stack holds (the reference design's ``serverless-backend.yaml``, ``../shared/reference/``, without its
faults): a REST API with a Cognito user-pool authorizer; the tables (on-demand, point-in-time recovery, SSE,
deletion protection in prod); five functions, each with only the permissions it uses; the saga FIFO queue with a
dead-letter queue, fed by the outbox relay itself (message group = the order id, deduplication id = the event id:
an EventBridge rule's SQS target can set neither per event, see ``fooddelivery_aws.relay``); an event bus carrying
every event, whose rule feeds a standard analytics queue; a standard queue for saga timers (SQS rejects
per-message delays on FIFO queues); SNS topics; the Kinesis location stream; the payment secret; the
Step Functions state machines (only when ``SagaMode`` is ``stepfunctions``); alarms and a dashboard. No account
id, role ARN or bucket name is written anywhere: SAM builds the roles, ``sam deploy --resolve-s3`` the bucket.

Step Functions: STANDARD, not EXPRESS. Express workflows support neither ``.waitForTaskToken`` (the restaurant's
confirmation is a callback task) nor runs past 5 minutes (the wait alone may take 300 s). Costs (list prices,
``src/fooddelivery/cost/prices.json``): Standard $0.025 per 1,000 state transitions; a confirmed order enters 10 states
(``fooddelivery_aws.stepfunctions.asl``), so $0.00025 per order, $250 per million orders, each retry one more
transition. Express would be $1.00 per million starts plus duration, but cannot run this workflow. The default
``SagaMode=queue`` runs the same saga on SQS: ~10 FIFO requests an order at $0.50 per million ($0.000005/order).

Sources: SAM resource and policy-template reference
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification.html,
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-policy-templates.html);
an EventBridge rule's SQS target takes one fixed ``MessageGroupId`` and no deduplication id
(https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_SqsParameters.html); SQS high-throughput FIFO
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/high-throughput-fifo.html); SQS
visibility timeout >= 6x the function timeout for an SQS event source
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html); ``SendTaskSuccess`` cannot be scoped
to a resource for tokens of service-integration tasks (Service Authorization Reference, AWS Step Functions).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_artifact import ARCHITECTURE, ARTIFACT, RUNTIME  # noqa: E402
from fooddelivery_aws.dynamodb.records import ITEM_OUTBOX  # noqa: E402
from fooddelivery_aws.dynamodb.tables import ALL_TABLES, DRIVERS, ORDERS, RESTAURANTS, SAGAS, TableSpec  # noqa: E402
from fooddelivery_aws.messaging.eventbridge import EVENT_SOURCE  # noqa: E402
from fooddelivery_aws.stepfunctions.asl import CALLBACK_RESOURCE  # noqa: E402

from fooddelivery.http.api import ROUTES  # noqa: E402

__all__ = [
    "ASL_FILES",
    "FUNCTIONS",
    "GLOBAL_ENVIRONMENT",
    "TEMPLATE",
    "FunctionSpec",
    "build",
    "main",
    "render",
]

#: The generated template.
TEMPLATE: Final = HERE / "template.yaml"
#: State machine logical id -> its ASL file (relative to this folder). ``order-saga-cancel.asl.json`` (the cancel
#: route after confirmation) is not deployed: nothing starts it (``fooddelivery_aws.sagas.StepFunctionsSaga``).
ASL_FILES: Final[Mapping[str, str]] = {"OrderSagaStateMachine": "statemachine/order-saga.asl.json"}
#: The state machine's name; its ARN is built from it (a ``Ref`` would make a cycle through the task function).
STATE_MACHINE_NAME: Final = "food-delivery-order-saga-${Environment}"
#: The task Lambda's logical id; its ARN fills ``${TaskFunctionArn}`` in the ASL.
TASK_FUNCTION: Final = "SagaTaskFunction"
_PLACEHOLDERS: Final[Mapping[str, Any]] = {"TaskFunctionArn": {"Fn::GetAtt": [TASK_FUNCTION, "Arn"]}}
_PLACEHOLDER_RE: Final = re.compile(r"\$\{([A-Za-z0-9_.:]+)\}")

_STEPFUNCTIONS: Final = "UseStepFunctions"
_PROD: Final = "IsProd"
_PREFIX: Final = "food-delivery"
_NO_VALUE: Final = {"Ref": "AWS::NoValue"}


# -- intrinsic helpers -----------------------------------------------------------------------------------
def ref(name: str) -> dict[str, Any]:
    """``{"Ref": name}``."""
    return {"Ref": name}


def getatt(resource: str, attribute: str) -> dict[str, Any]:
    """``{"Fn::GetAtt": [resource, attribute]}``."""
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> dict[str, Any]:
    """``{"Fn::Sub": text}``."""
    return {"Fn::Sub": text}


def if_(condition: str, then: Any, otherwise: Any = _NO_VALUE) -> dict[str, Any]:
    """``{"Fn::If": [condition, then, otherwise]}`` (``otherwise`` defaults to ``AWS::NoValue``)."""
    return {"Fn::If": [condition, then, otherwise]}


def named(kind: str) -> dict[str, Any]:
    """A physical name ``food-delivery-<kind>-<Environment>``, as the reference names its resources."""
    return sub(f"{_PREFIX}-{kind}-${{Environment}}")


# -- the pieces ------------------------------------------------------------------------------------------
def _table_short(spec: TableSpec) -> str:
    return spec.logical_id.removesuffix("Table").lower()


#: ``arn:...:stateMachine:<name>`` from pseudo parameters (no account id written down).
_STATE_MACHINE_ARN: Final = sub(
    f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{STATE_MACHINE_NAME}"
)

#: Settings every function reads: ``fooddelivery_aws.settings.AwsSettings`` reads them all at cold start (a
#: missing one fails naming it), so every function gets every one.
GLOBAL_ENVIRONMENT: Final[dict[str, Any]] = {
    "ENVIRONMENT": ref("Environment"),
    "LOG_LEVEL": "INFO",
    **{spec.env_var: ref(spec.logical_id) for spec in ALL_TABLES},
    "EVENT_BUS_NAME": ref("OrderEventBus"),
    "SAGA_QUEUE_URL": ref("SagaQueue"),
    "TIMER_QUEUE_URL": ref("SagaTimerQueue"),
    "NOTIFICATIONS_TOPIC_ARN": ref("NotificationsTopic"),
    "ALERTS_TOPIC_ARN": ref("AlertsTopic"),
    "LOCATION_STREAM_NAME": ref("LocationStream"),
    "PAYMENT_SECRET_ARN": ref("PaymentSecret"),
    "FOODDELIVERY_SAGA_MODE": ref("SagaMode"),
    "STATE_MACHINE_ARN": if_(_STEPFUNCTIONS, _STATE_MACHINE_ARN),
    "FOODDELIVERY_PAYMENT_GATEWAY": ref("PaymentGateway"),
}


def _crud(spec: TableSpec) -> dict[str, Any]:
    return {"DynamoDBCrudPolicy": {"TableName": ref(spec.logical_id)}}


def _read(spec: TableSpec) -> dict[str, Any]:
    return {"DynamoDBReadPolicy": {"TableName": ref(spec.logical_id)}}


def _statement(actions: Sequence[str], resources: Any, sid: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions), "Resource": resources}
    if sid:
        statement = {"Sid": sid, **statement}
    return {"Statement": [statement]}


_PUT_EVENTS: Final = {"EventBridgePutEventsPolicy": {"EventBusName": ref("OrderEventBus")}}
_SEND_TIMERS: Final = {"SQSSendMessagePolicy": {"QueueName": getatt("SagaTimerQueue", "QueueName")}}
# The outbox relay sends the saga's events to the saga queue (SendMessageBatch is authorised by sqs:SendMessage).
_SEND_SAGA_EVENTS: Final = {"SQSSendMessagePolicy": {"QueueName": getatt("SagaQueue", "QueueName")}}
# What a Lambda SQS event source needs (SAM's SQSPollerPolicy also lists *Batch actions that IAM does not have).
_POLL_QUEUES: Final = _statement(
    ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
    [getatt("SagaQueue", "Arn"), getatt("SagaTimerQueue", "Arn")],
    "PollSagaQueues",
)
_SEND_STREAM_FAILURES: Final = {"SQSSendMessagePolicy": {"QueueName": getatt("StreamFailureQueue", "QueueName")}}
_PUBLISH_NOTIFICATIONS: Final = {"SNSPublishMessagePolicy": {"TopicName": getatt("NotificationsTopic", "TopicName")}}
_PUBLISH_ALERTS: Final = {"SNSPublishMessagePolicy": {"TopicName": getatt("AlertsTopic", "TopicName")}}
_GET_PAYMENT_SECRET: Final = {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": ref("PaymentSecret")}}
_PUT_LOCATION: Final = _statement(["kinesis:PutRecord", "kinesis:PutRecords"], getatt("LocationStream", "Arn"))
# Task tokens of service-integration (callback) tasks cannot be scoped to a resource.
_SEND_TASK_RESULT: Final = if_(
    _STEPFUNCTIONS, _statement(["states:SendTaskSuccess", "states:SendTaskFailure"], "*", "CompleteCallbackTasks")
)
_START_SAGAS: Final = if_(
    _STEPFUNCTIONS, _statement(["states:StartExecution"], ref("OrderSagaStateMachine"), "StartOrderSagas")
)
_READ_ORDERS_STREAM: Final = {
    "Statement": [
        {
            "Sid": "ReadOrdersStream",
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            "Resource": getatt(ORDERS.logical_id, "StreamArn"),
        },
        {"Sid": "ListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "*"},
    ]
}
_READ_LOCATION_STREAM: Final = {
    "Statement": [
        {
            "Sid": "ReadLocationStream",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
                "kinesis:SubscribeToShard",
            ],
            "Resource": getatt("LocationStream", "Arn"),
        },
        {"Sid": "ListStreams", "Effect": "Allow", "Action": ["kinesis:ListStreams"], "Resource": "*"},
    ]
}


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One Lambda function of the stack.

    Attributes:
        logical_id: its logical id.
        short: the name suffix (``food-delivery-<short>-<Environment>``).
        handler: ``module.attribute`` in the artefact.
        description: what it does.
        policies: SAM ``Policies`` (policy templates and statements), least privilege.
        events: SAM ``Events``.
        timeout: seconds.
        memory: MB.
        environment: variables on top of :data:`GLOBAL_ENVIRONMENT`.
        condition: the template condition it exists under, or None.
    """

    logical_id: str
    short: str
    handler: str
    description: str
    policies: tuple[Any, ...]
    events: Mapping[str, Any] = field(default_factory=dict)
    timeout: int = 30
    memory: int = 512
    environment: Mapping[str, Any] = field(default_factory=dict)
    condition: str | None = None


def _api_events() -> dict[str, Any]:
    """One ``Api`` event per route of the core's HTTP API (and an ``OPTIONS`` per path), auth as the core says."""
    events: dict[str, Any] = {}
    paths: list[str] = []
    for route in ROUTES:
        name = _event_name(route.method, route.path)
        props: dict[str, Any] = {"RestApiId": ref("FoodDeliveryApi"), "Path": route.path, "Method": route.method}
        if not route.auth:
            props["Auth"] = {"Authorizer": "NONE"}
        events[name] = {"Type": "Api", "Properties": props}
        if route.path not in paths:
            paths.append(route.path)
    for path in paths:  # the core answers OPTIONS itself (204 + Allow), without credentials
        events[_event_name("OPTIONS", path)] = {
            "Type": "Api",
            "Properties": {
                "RestApiId": ref("FoodDeliveryApi"),
                "Path": path,
                "Method": "OPTIONS",
                "Auth": {"Authorizer": "NONE"},
            },
        }
    return events


def _event_name(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path.replace(".json", "Json"))
    return method.capitalize() + "".join(w[:1].upper() + w[1:] for w in words)


# Who needs what (fooddelivery_aws.bootstrap): events leave only through the outbox relay (no publish-after-commit),
# so only the relay may PutEvents and send the saga's events to the saga queue. In queue mode a restaurant's
# confirmation or a cancellation over HTTP drives the saga's next steps in the HTTP function itself
# (SagaRunner.signal), so it holds what saga steps use: the tables, the topics, the timer queue and the payment key.
# The tracking consumer only writes metrics (EMF log lines).
#: The functions (handler paths are the entrypoints' public names).
FUNCTIONS: Final[tuple[FunctionSpec, ...]] = (
    FunctionSpec(
        logical_id="HttpFunction",
        short="http",
        handler="fooddelivery_aws.entrypoints.http.handler",
        description="The HTTP API (API Gateway REST, payload 1.0) -> the core's HTTP layer.",
        timeout=15,
        policies=(
            _crud(ORDERS),
            _read(RESTAURANTS),
            _crud(DRIVERS),
            _crud(SAGAS),
            _SEND_TIMERS,
            _PUBLISH_NOTIFICATIONS,
            _PUBLISH_ALERTS,
            _GET_PAYMENT_SECRET,
            _PUT_LOCATION,
            _SEND_TASK_RESULT,
        ),
        events=_api_events(),
    ),
    FunctionSpec(
        logical_id="QueueFunction",
        short="queue",
        handler="fooddelivery_aws.entrypoints.sqs.handler",
        description="Order events and saga commands (FIFO queue) and saga timers (timer queue), partial batches.",
        policies=(
            _POLL_QUEUES,
            _crud(ORDERS),
            _read(RESTAURANTS),
            _crud(DRIVERS),
            _crud(SAGAS),
            _SEND_TIMERS,
            _PUBLISH_NOTIFICATIONS,
            _PUBLISH_ALERTS,
            _GET_PAYMENT_SECRET,
            _START_SAGAS,
            _SEND_TASK_RESULT,
        ),
    ),
    FunctionSpec(
        logical_id="OutboxRelayFunction",
        short="outbox-relay",
        handler="fooddelivery_aws.entrypoints.stream.handler",
        description="Outbox relay: new outbox records on the orders table's stream -> the saga FIFO queue (saga "
        "events) and EventBridge (every event); a periodic sweep.",
        timeout=60,
        policies=(_READ_ORDERS_STREAM, _crud(ORDERS), _SEND_SAGA_EVENTS, _PUT_EVENTS, _SEND_STREAM_FAILURES),
        events={
            # The relay's safety net: whatever the stream could not relay is still pending in the outbox.
            "OutboxSweep": {
                "Type": "Schedule",
                "Properties": {"Schedule": "rate(5 minutes)", "Description": "Publish outbox records still pending."},
            }
        },
    ),
    FunctionSpec(
        logical_id="LocationFunction",
        short="location",
        handler="fooddelivery_aws.entrypoints.kinesis.handler",
        description="Driver positions from the Kinesis location stream -> tracking metrics.",
        timeout=60,
        policies=(_READ_LOCATION_STREAM, _SEND_STREAM_FAILURES),
    ),
    FunctionSpec(
        logical_id=TASK_FUNCTION,
        short="saga-task",
        handler="fooddelivery_aws.stepfunctions.task_handler.handler",
        description="Every Task state of the order saga's state machine (SagaMode=stepfunctions).",
        policies=(
            _crud(ORDERS),
            _read(RESTAURANTS),
            _crud(DRIVERS),
            _crud(SAGAS),
            _PUBLISH_NOTIFICATIONS,
            _PUBLISH_ALERTS,
            _GET_PAYMENT_SECRET,
        ),
        # It exists only in stepfunctions mode: the ARN without the Globals' condition around it.
        environment={"STATE_MACHINE_ARN": _STATE_MACHINE_ARN},
        condition=_STEPFUNCTIONS,
    ),
)


def _function_resources(spec: FunctionSpec, log_group: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "FunctionName": named(spec.short),
        "Description": spec.description,
        "Handler": spec.handler,
        "Timeout": spec.timeout,
        "MemorySize": spec.memory,
        "LoggingConfig": {"LogFormat": "JSON", "LogGroup": ref(log_group)},
        "Policies": list(spec.policies),
    }
    if spec.environment:
        props["Environment"] = {"Variables": dict(spec.environment)}
    if spec.events:
        props["Events"] = dict(spec.events)
    function: dict[str, Any] = {"Type": "AWS::Serverless::Function"}
    group: dict[str, Any] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": sub(f"/aws/lambda/{_PREFIX}-{spec.short}-${{Environment}}"),
            "RetentionInDays": ref("LogRetentionInDays"),
        },
    }
    if spec.condition:
        function["Condition"] = spec.condition
        group["Condition"] = spec.condition
    function["Properties"] = props
    return {log_group: group, spec.logical_id: function}


def _tables() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for spec in ALL_TABLES:
        props = spec.cloudformation_properties(named(_table_short(spec)))
        props["DeletionProtectionEnabled"] = if_(_PROD, True, False)
        props["Tags"] = [{"Key": "Environment", "Value": ref("Environment")}]
        resources[spec.logical_id] = {"Type": "AWS::DynamoDB::Table", "Properties": props}
    return resources


#: Receives before SQS moves a message to its dead-letter queue. With the 180 s visibility timeout, a saga input that
#: failed "not now" (a store outage, the saga busy) is retried for about 30 minutes before it is dead-lettered; a
#: malformed one gets there after the same time (the consumer cannot dead-letter a message itself: SQS has no call
#: for it).
MAX_RECEIVE_COUNT: Final = 10


def _queue(name: Any, *, fifo: bool = False, visibility: int | None = None, dlq: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"QueueName": name, "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600}
    if fifo:
        props["FifoQueue"] = True
    if visibility is not None:
        props["VisibilityTimeout"] = visibility
    if dlq is not None:
        props["RedrivePolicy"] = {"deadLetterTargetArn": getatt(dlq, "Arn"), "maxReceiveCount": MAX_RECEIVE_COUNT}
    return {"Type": "AWS::SQS::Queue", "Properties": props}


def _messaging() -> dict[str, Any]:
    # SQS event sources: visibility timeout >= 6x the function timeout (QueueFunction: 30 s).
    saga_queue = _queue(
        sub(f"{_PREFIX}-saga-${{Environment}}.fifo"), fifo=True, visibility=180, dlq="SagaDeadLetterQueue"
    )
    saga_queue["Properties"].update(
        {
            # Only the application sends here, always with MessageDeduplicationId (the event id from the outbox
            # relay, the command id of a resume), so content-based deduplication stays off: a message without an
            # explicit id is refused instead of being deduplicated on its body.
            "ContentBasedDeduplication": False,
            # High-throughput FIFO: deduplication and the throughput limits apply per message group (= per order).
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
        }
    )
    rule_target_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRuleSends",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:SourceArn": getatt("OrderEventRule", "Arn")}},
            }
        ],
    }
    return {
        "OrderEventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": named("events")}},
        # Every event reaches the bus (the outbox relay publishes them all); this rule hands them to analytics. A
        # standard queue: a FIFO target would take one fixed message group, so one event at a time for everyone.
        "OrderEventRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": named("order-events"),
                "Description": "Every order event (CloudEvents in Detail) -> the analytics queue.",
                "EventBusName": ref("OrderEventBus"),
                "EventPattern": {"source": [EVENT_SOURCE]},
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "analytics-queue",
                        "Arn": getatt("AnalyticsQueue", "Arn"),
                        "DeadLetterConfig": {"Arn": getatt("EventDeliveryDeadLetterQueue", "Arn")},
                    }
                ],
            },
        },
        "SagaQueue": saga_queue,
        "SagaDeadLetterQueue": _queue(sub(f"{_PREFIX}-saga-dlq-${{Environment}}.fifo"), fifo=True),
        "SagaTimerQueue": _queue(named("saga-timers"), visibility=180, dlq="SagaTimerDeadLetterQueue"),
        "SagaTimerDeadLetterQueue": _queue(named("saga-timers-dlq")),
        "AnalyticsQueue": _queue(named("analytics")),
        "EventDeliveryDeadLetterQueue": _queue(named("event-delivery-dlq")),
        "StreamFailureQueue": _queue(named("stream-failures")),
        "AnalyticsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("AnalyticsQueue")],
                "PolicyDocument": _scoped(rule_target_policy, "AnalyticsQueue"),
            },
        },
        "EventDeliveryDeadLetterQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [ref("EventDeliveryDeadLetterQueue")],
                "PolicyDocument": _scoped(rule_target_policy, "EventDeliveryDeadLetterQueue"),
            },
        },
        "NotificationsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": named("notifications"), "DisplayName": "Food Delivery notifications"},
        },
        # Unencrypted on purpose: CloudWatch alarms cannot publish to a topic under the AWS managed SNS key.
        "AlertsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": named("alerts"), "DisplayName": "Food Delivery alerts"},
        },
        "LocationStream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "Name": named("locations"),
                "StreamModeDetails": {"StreamMode": "PROVISIONED"},
                "ShardCount": ref("LocationShardCount"),
                "RetentionPeriodHours": 24,
                # The AWS managed key needs no extra permission for producers or consumers.
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        },
        "PaymentSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": sub(f"{_PREFIX}/${{Environment}}/payment"),
                "Description": "The payment provider's API key. Generated as a placeholder; set the real one with "
                "`aws secretsmanager put-secret-value`.",
                "GenerateSecretString": {
                    "SecretStringTemplate": '{"provider": "fake"}',
                    "GenerateStringKey": "apiKey",
                    "PasswordLength": 40,
                    "ExcludePunctuation": True,
                },
            },
        },
    }


def _scoped(policy: dict[str, Any], queue: str) -> dict[str, Any]:
    statement = dict(policy["Statement"][0], Resource=getatt(queue, "Arn"))
    return {"Version": policy["Version"], "Statement": [statement]}


def _event_sources() -> dict[str, Any]:
    on_failure = {"OnFailure": {"Destination": getatt("StreamFailureQueue", "Arn")}}
    sources: dict[str, Any] = {
        f"{queue}EventSource": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": ref("QueueFunction"),
                "EventSourceArn": getatt(queue, "Arn"),
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        for queue in ("SagaQueue", "SagaTimerQueue")
    }
    return {
        # Written out (not SAM events) so the roles read only these queues and streams: SAM's SQS, DynamoDB and
        # Kinesis events attach AWS managed policies that read every queue or stream of the account.
        **sources,
        "OutboxRelayEventSource": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": ref("OutboxRelayFunction"),
                "EventSourceArn": getatt(ORDERS.logical_id, "StreamArn"),
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 100,
                "MaximumBatchingWindowInSeconds": 0,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": on_failure,
                # Only new outbox records wake the relay: order updates and idempotency bindings do not.
                "FilterCriteria": {
                    "Filters": [
                        {
                            "Pattern": json.dumps(
                                {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"itemType": {"S": [ITEM_OUTBOX]}}}},
                                separators=(",", ":"),
                            )
                        }
                    ]
                },
            },
        },
        "LocationEventSource": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": ref("LocationFunction"),
                "EventSourceArn": getatt("LocationStream", "Arn"),
                "StartingPosition": "LATEST",
                "BatchSize": 100,
                "MaximumBatchingWindowInSeconds": 1,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 3,
                # A position older than five minutes is of no use to anyone tracking a delivery.
                "MaximumRecordAgeInSeconds": 300,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "DestinationConfig": on_failure,
            },
        },
    }


def _auth() -> dict[str, Any]:
    groups = {
        f"UserPoolGroup{role.capitalize()}": {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"GroupName": role, "UserPoolId": ref("UserPool"), "Description": f"{role} role"},
        }
        for role in ("customer", "restaurant", "driver", "admin")
    }
    return {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UserPoolName": named("users"),
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
                "Schema": [
                    {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": False},
                    {"Name": "name", "AttributeDataType": "String", "Required": True, "Mutable": True},
                    # Bindings of restaurant staff and drivers (ClaimMapping.cognito); set by admins only.
                    {"Name": "restaurant_id", "AttributeDataType": "String", "Mutable": True},
                    {"Name": "driver_id", "AttributeDataType": "String", "Mutable": True},
                ],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireUppercase": True,
                        "RequireLowercase": True,
                        "RequireNumbers": True,
                        "RequireSymbols": True,
                    }
                },
                # TOTP only: SMS MFA needs an SMS role and spend limits the reference never configured.
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "DeletionProtection": if_(_PROD, "ACTIVE", "INACTIVE"),
            },
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "ClientName": named("app"),
                "UserPoolId": ref("UserPool"),
                "GenerateSecret": False,
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "PreventUserExistenceErrors": "ENABLED",
                "ReadAttributes": ["email", "name", "custom:restaurant_id", "custom:driver_id"],
                "WriteAttributes": ["name"],  # clients can never bind themselves to a restaurant or a driver
            },
        },
        **groups,
        "FoodDeliveryApi": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "Name": named("api"),
                "StageName": ref("Environment"),
                "EndpointConfiguration": {"Type": "REGIONAL"},
                "TracingEnabled": True,
                "OpenApiVersion": "3.0.1",
                "Auth": {
                    "DefaultAuthorizer": "CognitoAuthorizer",
                    "AddDefaultAuthorizerToCorsPreflight": False,
                    "Authorizers": {"CognitoAuthorizer": {"UserPoolArn": getatt("UserPool", "Arn")}},
                },
                "MethodSettings": [
                    {
                        "ResourcePath": "/*",
                        "HttpMethod": "*",
                        "ThrottlingBurstLimit": 500,
                        "ThrottlingRateLimit": 1000,
                        "MetricsEnabled": True,
                    }
                ],
            },
        },
    }


def _asl_placeholders(asl_path: Path) -> list[str]:
    return sorted(set(_PLACEHOLDER_RE.findall(asl_path.read_text(encoding="utf-8"))))


def confirmation_timeout_s(asl_path: Path = HERE / ASL_FILES["OrderSagaStateMachine"]) -> int:
    """The callback task's ``TimeoutSeconds`` in the order saga's ASL: the restaurant's time to confirm.

    Raises:
        ValueError: the ASL has no callback task, or more than one timeout.
    """
    found: set[int] = set()

    def walk(states: Mapping[str, Any]) -> None:
        for state in states.values():
            if state.get("Resource") == CALLBACK_RESOURCE and "TimeoutSeconds" in state:
                found.add(int(state["TimeoutSeconds"]))
            for branch in state.get("Branches", []):
                walk(branch["States"])

    walk(json.loads(asl_path.read_text(encoding="utf-8"))["States"])
    if len(found) != 1:
        raise ValueError(f"{asl_path}: expected one callback TimeoutSeconds, found {sorted(found)}")
    return found.pop()


def _state_machines() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for logical_id, relative in ASL_FILES.items():
        placeholders = _asl_placeholders(HERE / relative)
        unknown = [p for p in placeholders if p not in _PLACEHOLDERS]
        if unknown:
            raise ValueError(f"{relative}: no DefinitionSubstitutions value for {unknown}")
        resources[logical_id] = {
            "Type": "AWS::Serverless::StateMachine",
            "Condition": _STEPFUNCTIONS,
            "Properties": {
                "Name": sub(STATE_MACHINE_NAME),
                "Type": "STANDARD",
                "DefinitionUri": relative,
                "DefinitionSubstitutions": {p: _PLACEHOLDERS[p] for p in placeholders},
                "Policies": [{"LambdaInvokePolicy": {"FunctionName": ref(TASK_FUNCTION)}}],
                "Tracing": {"Enabled": True},
            },
        }
    return resources


# -- alarms and dashboard --------------------------------------------------------------------------------
def _alarm(
    name: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, Any],
    *,
    statistic: str = "Sum",
    threshold: float = 1,
    period: int = 300,
    condition: str | None = None,
) -> dict[str, Any]:
    alarm: dict[str, Any] = {"Type": "AWS::CloudWatch::Alarm"}
    if condition:
        alarm["Condition"] = condition
    alarm["Properties"] = {
        "AlarmName": sub(f"{_PREFIX}-${{Environment}}-{name}"),
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Statistic": statistic,
        "Period": period,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [ref("AlertsTopic")],
        "OKActions": [ref("AlertsTopic")],
    }
    return alarm


def _alarms() -> dict[str, Any]:
    alarms: dict[str, Any] = {}
    for spec in FUNCTIONS:
        alarms[f"{spec.logical_id}ErrorsAlarm"] = _alarm(
            f"{spec.short}-errors",
            f"{spec.logical_id} raised errors (unhandled exceptions, timeouts) in 5 minutes.",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": ref(spec.logical_id)},
            condition=spec.condition,
        )
    for queue, what in (
        ("SagaDeadLetterQueue", "saga steps or events failed 3 times"),
        ("SagaTimerDeadLetterQueue", "saga timers failed 3 times"),
        ("EventDeliveryDeadLetterQueue", "EventBridge could not deliver events to the analytics queue"),
        ("StreamFailureQueue", "outbox or location stream records were given up"),
    ):
        alarms[f"{queue}DepthAlarm"] = _alarm(
            f"{_kebab(queue)}-depth",
            f"Messages in {queue}: {what}.",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": getatt(queue, "QueueName")},
            statistic="Maximum",
            period=60,
        )
    alarms["SagaQueueAgeAlarm"] = _alarm(
        "saga-queue-age",
        "The oldest message in the saga queue waits 5 minutes or more (a stuck message group, or no consumer).",
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        {"QueueName": getatt("SagaQueue", "QueueName")},
        statistic="Maximum",
        threshold=300,
        period=60,
    )
    alarms["OutboxRelayIteratorAgeAlarm"] = _alarm(
        "outbox-relay-lag",
        "Outbox records wait a minute or more before they are published.",
        "AWS/Lambda",
        "IteratorAge",
        {"FunctionName": ref("OutboxRelayFunction")},
        statistic="Maximum",
        threshold=60000,
        period=60,
    )
    alarms["Api5xxAlarm"] = _alarm(
        "api-5xx",
        "The API answered 5xx five times or more in 5 minutes.",
        "AWS/ApiGateway",
        "5XXError",
        {"ApiName": named("api"), "Stage": ref("Environment")},
        threshold=5,
    )
    for machine in ASL_FILES:
        alarms[f"{machine}FailedAlarm"] = _alarm(
            f"{_kebab(machine)}-failed",
            f"Executions of {machine} failed or timed out (an error no route catches).",
            "AWS/States",
            "ExecutionsFailed",
            {"StateMachineArn": ref(machine)},
            condition=_STEPFUNCTIONS,
        )
    return alarms


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _dashboard_body(with_state_machines: bool) -> dict[str, Any]:
    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": "${AWS::Region}",
                "stat": stat,
                "period": 300,
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    functions = [f for f in FUNCTIONS if f.condition is None or with_state_machines]
    api = ["AWS/ApiGateway", "{metric}", "ApiName", f"{_PREFIX}-api-${{Environment}}", "Stage", "${Environment}"]
    widgets = [
        widget(
            "API requests and errors", [[*_fmt(api, "Count")], [*_fmt(api, "4XXError")], [*_fmt(api, "5XXError")]], 0, 0
        ),
        widget("API latency p99 (ms)", [[*_fmt(api, "Latency"), {"stat": "p99"}]], 12, 0, "p99"),
        widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", f"${{{f.logical_id}}}"] for f in functions],
            0,
            6,
        ),
        widget(
            "Lambda duration p99 (ms)",
            [["AWS/Lambda", "Duration", "FunctionName", f"${{{f.logical_id}}}", {"stat": "p99"}] for f in functions],
            12,
            6,
            "p99",
        ),
        widget(
            "Queues: visible messages",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{q}.QueueName}}"]
                for q in (
                    "SagaQueue",
                    "SagaTimerQueue",
                    "AnalyticsQueue",
                    "SagaDeadLetterQueue",
                    "SagaTimerDeadLetterQueue",
                    "EventDeliveryDeadLetterQueue",
                    "StreamFailureQueue",
                )
            ],
            0,
            12,
            "Maximum",
        ),
        widget(
            "Saga queue: age of oldest message (s); outbox lag (ms)",
            [
                ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "${SagaQueue.QueueName}"],
                ["AWS/Lambda", "IteratorAge", "FunctionName", "${OutboxRelayFunction}", {"yAxis": "right"}],
            ],
            12,
            12,
            "Maximum",
        ),
        widget(
            "DynamoDB consumed capacity and throttles",
            [
                metric
                for spec in ALL_TABLES
                for metric in (
                    ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", f"${{{spec.logical_id}}}"],
                    ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", f"${{{spec.logical_id}}}"],
                    ["AWS/DynamoDB", "ThrottledRequests", "TableName", f"${{{spec.logical_id}}}"],
                )
            ],
            0,
            18,
        ),
    ]
    if with_state_machines:
        widgets.append(
            widget(
                "Order saga executions",
                [
                    ["AWS/States", metric, "StateMachineArn", f"${{{machine}}}"]
                    for machine in ASL_FILES
                    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")
                ],
                12,
                18,
            )
        )
    return {"widgets": widgets}


def _fmt(metric: list[str], name: str) -> list[str]:
    return [m.replace("{metric}", name) for m in metric]


def _dashboard() -> dict[str, Any]:
    def body(with_state_machines: bool) -> dict[str, Any]:
        return sub(json.dumps(_dashboard_body(with_state_machines), indent=2) + "\n")

    return {
        "OperationsDashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": named("operations"),
                "DashboardBody": if_(_STEPFUNCTIONS, body(True), body(False)),
            },
        }
    }


# -- the template ----------------------------------------------------------------------------------------
def build() -> dict[str, Any]:
    """The template as JSON-ready data (see the module docstring)."""
    resources: dict[str, Any] = {}
    resources.update(_auth())
    resources.update(_tables())
    resources.update(_messaging())
    for spec in FUNCTIONS:
        resources.update(_function_resources(spec, f"{spec.logical_id}LogGroup"))
    resources.update(_event_sources())
    resources.update(_state_machines())
    resources.update(_alarms())
    resources.update(_dashboard())
    environment = dict(GLOBAL_ENVIRONMENT)
    environment["FOODDELIVERY_CONFIRMATION_TIMEOUT_S"] = str(confirmation_timeout_s())
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": "fooddelivery: the order back end on AWS (generated by deploy/aws/build_template.py).",
        "Parameters": {
            "Environment": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "staging", "prod"]},
            "SagaMode": {
                "Type": "String",
                "Default": "queue",
                "AllowedValues": ["queue", "stepfunctions"],
                "Description": "queue: the saga runs on SQS (cheapest); stepfunctions: on the generated state machine.",
            },
            "LocationShardCount": {
                "Type": "Number",
                "Default": 1,
                "MinValue": 1,
                "Description": "Shards of the location stream (1 MB/s or 1,000 records/s of positions each).",
            },
            "PaymentGateway": {
                "Type": "String",
                "AllowedPattern": r"^(fake|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*)$",
                "ConstraintDescription": "'module:factory', or 'fake'",
                "Description": "FOODDELIVERY_PAYMENT_GATEWAY: 'module:factory' building the payment gateway (called "
                "with the PaymentSecret reader), or 'fake' for the core's test gateway (demos only: it never "
                "charges). No default: a stack must say how it charges.",
            },
            "LogRetentionInDays": {
                "Type": "Number",
                "Default": 30,
                "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365],
                "Description": "How long the functions' logs are kept.",
            },
        },
        "Conditions": {
            _STEPFUNCTIONS: {"Fn::Equals": [ref("SagaMode"), "stepfunctions"]},
            _PROD: {"Fn::Equals": [ref("Environment"), "prod"]},
        },
        "Globals": {
            "Function": {
                "Runtime": RUNTIME,
                "Architectures": [ARCHITECTURE],
                "CodeUri": Path("..", "..", ARTIFACT.relative_to(HERE.parents[1])).as_posix(),
                "Tracing": "Active",
                "Environment": {"Variables": environment},
            }
        },
        "Resources": resources,
        "Outputs": {
            "ApiUrl": {
                "Description": "The API's base URL.",
                "Value": sub("https://${FoodDeliveryApi}.execute-api.${AWS::Region}.amazonaws.com/${Environment}"),
            },
            "UserPoolId": {"Description": "Cognito user pool id.", "Value": ref("UserPool")},
            "UserPoolClientId": {"Description": "Cognito app client id.", "Value": ref("UserPoolClient")},
            "EventBusName": {"Description": "The domain event bus.", "Value": ref("OrderEventBus")},
            "SagaQueueUrl": {"Description": "The saga FIFO queue.", "Value": ref("SagaQueue")},
            "AnalyticsQueueUrl": {"Description": "Every order event, for analytics.", "Value": ref("AnalyticsQueue")},
            "PaymentSecretArn": {"Description": "Put the payment provider's key here.", "Value": ref("PaymentSecret")},
            "OrderSagaStateMachineArn": {
                "Condition": _STEPFUNCTIONS,
                "Description": "The order saga's state machine.",
                "Value": ref("OrderSagaStateMachine"),
            },
        },
    }


# -- YAML ------------------------------------------------------------------------------------------------
_HEADER: Final = """\
# GENERATED by deploy/aws/build_template.py from the code it deploys -- do not edit; regenerate:
#   .venv-aws/bin/python deploy/aws/build_template.py
# Tables: fooddelivery_aws.dynamodb.tables; API routes: fooddelivery.http.api.ROUTES; state machines:
# statemachine/*.asl.json (fooddelivery_aws.stepfunctions.generate). Lint: deploy/aws/check.sh.
# Step Functions STANDARD (callback task; Express has no .waitForTaskToken and a 5-minute cap): $0.025 per
# 1,000 transitions, 10 per confirmed order = $0.00025/order. SagaMode=queue (default) runs the saga on SQS.
"""
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z0-9_]+)*")
_PLAIN_VALUE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
_RESERVED: Final = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN_VALUE.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) and key.lower() not in _RESERVED else json.dumps(key)


def _is_block(value: Any) -> bool:
    return (isinstance(value, Mapping | list) and bool(value)) or (isinstance(value, str) and "\n" in value)


def _literal(value: str, indent: int) -> tuple[str, list[str]]:
    """A block literal's indicator (``|`` keeps one final newline, ``|-`` none) and its lines."""
    chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else "-"
    body = [f"{' ' * indent}{line}" if line else "" for line in value.rstrip("\n").split("\n")]
    return f"|{chomp}", body


def _node(value: Any, indent: int) -> list[str]:
    """The lines of a non-empty mapping or list whose entries start at column ``indent``."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            head = f"{pad}{_key(str(key))}:"
            if isinstance(item, str) and "\n" in item:
                indicator, body = _literal(item, indent + 2)
                lines += [f"{head} {indicator}", *body]
            elif _is_block(item):
                lines += [head, *_node(item, indent + 2)]
            else:
                lines.append(f"{head} {_inline(item)}")
        return lines
    for item in value:
        if isinstance(item, str) and "\n" in item:
            indicator, body = _literal(item, indent + 2)
            lines += [f"{pad}- {indicator}", *body]
        elif _is_block(item):
            nested = _node(item, indent + 2)
            lines += [f"{pad}- {nested[0][indent + 2 :]}", *nested[1:]]
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def render(template: Mapping[str, Any]) -> str:
    """``template`` as block-style YAML (long-form intrinsics; strings JSON-quoted unless plainly safe)."""
    return _HEADER + "\n".join(_node(template, 0)) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (1 when ``--check`` finds the template stale)."""
    parser = argparse.ArgumentParser(prog="python deploy/aws/build_template.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=TEMPLATE, help=f"where to write it (default {TEMPLATE})")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the file differs")
    args = parser.parse_args(argv)
    text = render(build())
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if args.check:
        if current != text:
            print(f"{args.out}: stale; regenerate with python deploy/aws/build_template.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
