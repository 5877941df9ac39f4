"""The SAM template is generated from the code it deploys, and says what the design says.

``cfn-lint`` and ``sam validate --lint`` run in ``deploy/aws/check.sh`` (their own venv); these tests read the
generator's data and the committed file.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from deploy_scripts import DEPLOY, handler_source, load

from fooddelivery.http.api import ROUTES
from fooddelivery_aws.dynamodb.tables import ALL_TABLES, TableSpec

build_template = load("build_template")
build_artifact = load("build_artifact")

TEMPLATE: dict[str, Any] = build_template.build()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {spec.logical_id: spec for spec in build_template.FUNCTIONS}

#: The settings the entrypoints read (the brief every AWS engineer works from).
SETTINGS = (
    "ORDERS_TABLE",
    "RESTAURANTS_TABLE",
    "DRIVERS_TABLE",
    "SAGAS_TABLE",
    "EVENT_BUS_NAME",
    "SAGA_QUEUE_URL",
    "NOTIFICATIONS_TOPIC_ARN",
    "ALERTS_TOPIC_ARN",
    "LOCATION_STREAM_NAME",
    "PAYMENT_SECRET_ARN",
    "FOODDELIVERY_SAGA_MODE",
    "FOODDELIVERY_CONFIRMATION_TIMEOUT_S",
)


def _policies(logical_id: str) -> list[Any]:
    return list(RESOURCES[logical_id]["Properties"]["Policies"])


def _statements(policy: Any) -> Iterator[dict[str, Any]]:
    """Inline statements of one SAM policy entry, looking through ``Fn::If``."""
    if isinstance(policy, dict) and "Fn::If" in policy:
        for branch in policy["Fn::If"][1:]:
            yield from _statements(branch)
    elif isinstance(policy, dict) and "Statement" in policy:
        yield from policy["Statement"]


def _actions(logical_id: str) -> set[str]:
    actions: set[str] = set()
    for policy in _policies(logical_id):
        for statement in _statements(policy):
            actions.update(statement["Action"])
    return actions


def _templates(logical_id: str) -> set[str]:
    return {next(iter(p)) for p in _policies(logical_id) if isinstance(p, dict) and "Statement" not in p}


def test_the_committed_template_is_what_the_generator_writes() -> None:
    committed = build_template.TEMPLATE.read_text(encoding="utf-8")
    assert committed == build_template.render(TEMPLATE), "stale: run .venv-aws/bin/python deploy/aws/build_template.py"


def test_the_yaml_reads_back_as_the_generated_data() -> None:
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load(build_template.TEMPLATE.read_text(encoding="utf-8")) == json.loads(json.dumps(TEMPLATE))


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda s: s.logical_id)
def test_every_table_is_rendered_from_its_spec(spec: TableSpec) -> None:
    props = RESOURCES[spec.logical_id]["Properties"]
    expected = spec.cloudformation_properties(props["TableName"])
    assert {k: props[k] for k in expected} == expected
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"][spec.env_var] == {"Ref": spec.logical_id}


def test_every_function_gets_every_setting_it_reads() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert set(SETTINGS) <= set(variables)
    assert variables["TIMER_QUEUE_URL"] == {"Ref": "SagaTimerQueue"}  # AwsSettings: required in queue mode
    # stepfunctions mode: every function, the task function included, gets the machine's ARN
    arn = variables["STATE_MACHINE_ARN"]["Fn::If"]
    assert arn[0] == "UseStepFunctions"
    assert arn[1]["Fn::Sub"].endswith(":stateMachine:" + build_template.STATE_MACHINE_NAME)
    assert RESOURCES["OrderSagaStateMachine"]["Properties"]["Name"] == {"Fn::Sub": build_template.STATE_MACHINE_NAME}
    task = RESOURCES[build_template.TASK_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert task["STATE_MACHINE_ARN"] == arn[1]


def test_the_settings_are_those_the_aws_composition_root_reads() -> None:
    settings = importlib.import_module("fooddelivery_aws.settings")
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    environ = {name: "x" for name in variables if isinstance(variables[name], (str, dict))}
    environ.update(FOODDELIVERY_SAGA_MODE="queue", FOODDELIVERY_CONFIRMATION_TIMEOUT_S="300")
    environ.pop("FOODDELIVERY_PAYMENT_GATEWAY")
    read = settings.AwsSettings.from_env(environ)
    assert read.timer_queue_url == "x"
    assert read.core.confirmation_timeout_s == 300
    documented = set(re.findall(r"``([A-Z][A-Z0-9_]+)``", settings.__doc__ or ""))
    assert documented - {"AWS_ENDPOINT_URL", "AWS_REGION", "OUTBOX_TABLE"} <= set(variables)


def test_the_confirmation_timeout_is_the_callback_tasks_timeout() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["FOODDELIVERY_CONFIRMATION_TIMEOUT_S"] == "300"
    assert build_template.confirmation_timeout_s() == 300


def test_the_functions_run_the_handlers_the_entrypoints_export() -> None:
    assert {spec.handler for spec in build_template.FUNCTIONS} == {
        "fooddelivery_aws.entrypoints.http.handler",
        "fooddelivery_aws.entrypoints.sqs.handler",
        "fooddelivery_aws.entrypoints.stream.handler",
        "fooddelivery_aws.entrypoints.kinesis.handler",
        "fooddelivery_aws.stepfunctions.task_handler.handler",
    }


@pytest.mark.parametrize("spec", build_template.FUNCTIONS, ids=lambda s: s.logical_id)
def test_each_handler_is_a_callable_of_its_module(spec: Any) -> None:
    if handler_source(spec.handler) is None:
        pytest.skip(f"{spec.handler}: its module is not written yet")
    module_name, attribute = spec.handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_runtime_and_architecture_are_those_the_artefact_is_built_for() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == build_artifact.RUNTIME == f"python{build_artifact.PYTHON_VERSION}"
    assert function_globals["Architectures"] == [build_artifact.ARCHITECTURE] == ["arm64"]
    assert all("aarch64" in platform for platform in build_artifact.PLATFORMS)
    assert (DEPLOY / function_globals["CodeUri"]).resolve() == build_artifact.ARTIFACT


def test_every_placeholder_of_the_generated_asl_is_substituted() -> None:
    for logical_id, relative in build_template.ASL_FILES.items():
        machine = RESOURCES[logical_id]
        text = (DEPLOY / relative).read_text(encoding="utf-8")
        placeholders = set(re.findall(r"\$\{([^}]+)\}", text))
        assert placeholders == {"TaskFunctionArn"}
        assert machine["Properties"]["DefinitionUri"] == relative
        assert set(machine["Properties"]["DefinitionSubstitutions"]) == placeholders
        assert machine["Properties"]["Type"] == "STANDARD"  # .waitForTaskToken: Express cannot
        assert machine["Condition"] == "UseStepFunctions"


def test_the_api_routes_are_the_core_routes_and_only_public_ones_skip_the_authorizer() -> None:
    api = RESOURCES["FoodDeliveryApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    events = RESOURCES["HttpFunction"]["Properties"]["Events"]
    routed = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()}
    assert {(r.method, r.path) for r in ROUTES} <= routed
    for event in events.values():
        props = event["Properties"]
        public = props["Method"] == "OPTIONS" or any(
            not r.auth for r in ROUTES if (r.method, r.path) == (props["Method"], props["Path"])
        )
        assert (props.get("Auth") == {"Authorizer": "NONE"}) == public, props


def test_the_saga_fifo_queue_is_fed_by_the_outbox_relay_not_by_a_rule() -> None:
    # The relay sends with MessageGroupId = order id and MessageDeduplicationId = event id (fooddelivery_aws.relay);
    # a rule's SQS target could set neither per event.
    queue = RESOURCES["SagaQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False  # every sender passes an explicit deduplication id
    assert (queue["DeduplicationScope"], queue["FifoThroughputLimit"]) == ("messageGroup", "perMessageGroupId")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SagaDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 10,  # about 30 minutes of "not now" retries at the 180 s visibility timeout
    }
    assert RESOURCES["SagaDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    assert queue["VisibilityTimeout"] >= 6 * RESOURCES["QueueFunction"]["Properties"]["Timeout"]
    rules = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Events::Rule"]
    targets = [t for rule in rules for t in rule.get("Targets", [])]
    assert {"Fn::GetAtt": ["SagaQueue", "Arn"]} not in [t["Arn"] for t in targets]
    assert not any("SqsParameters" in t for t in targets)
    policies = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::SQS::QueuePolicy"]
    assert all({"Ref": "SagaQueue"} not in p["Queues"] for p in policies)  # no service principal sends to it
    sends = {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["SagaQueue", "QueueName"]}}}
    assert {f for f in FUNCTIONS if sends in _policies(f)} == {"OutboxRelayFunction"}


def test_every_event_reaches_the_bus_whose_rule_feeds_a_standard_analytics_queue() -> None:
    rule = RESOURCES["OrderEventRule"]["Properties"]
    assert rule["EventPattern"] == {"source": ["fooddelivery.orders"]}  # every event, not only the saga's
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["AnalyticsQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeliveryDeadLetterQueue", "Arn"]}}
    assert "FifoQueue" not in RESOURCES["AnalyticsQueue"]["Properties"]
    policy = RESOURCES["AnalyticsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}
    assert policy["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["OrderEventRule", "Arn"]}}}


def test_every_consumer_reports_partial_batch_failures() -> None:
    mappings = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert {m["FunctionName"]["Ref"] for m in mappings} == {"QueueFunction", "OutboxRelayFunction", "LocationFunction"}
    assert all(m["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings)


def test_no_account_id_role_arn_or_bucket_is_written_down() -> None:
    text = build_template.TEMPLATE.read_text(encoding="utf-8")
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text)
    assert "arn:aws:iam::" not in text
    assert "s3://" not in text
    assert "RoleArn" not in text and "Role:" not in text


def test_no_function_is_granted_a_wildcard_action() -> None:
    for logical_id in FUNCTIONS:
        assert not any(a == "*" or a.endswith(":*") for a in _actions(logical_id)), logical_id


def test_only_the_functions_that_drive_the_saga_hold_its_keys() -> None:
    # Step Functions: only the event consumer starts executions; callbacks are completed where events arrive.
    assert {f for f in FUNCTIONS if "states:StartExecution" in _actions(f)} == {"QueueFunction"}
    assert {f for f in FUNCTIONS if "states:SendTaskSuccess" in _actions(f)} == {"HttpFunction", "QueueFunction"}
    # Events leave through the outbox relay only.
    assert {f for f in FUNCTIONS if "EventBridgePutEventsPolicy" in _templates(f)} == {"OutboxRelayFunction"}
    # Saga steps run in the consumer, the task function, and (queue mode: a signal drives the next steps) HTTP.
    steps = {"HttpFunction", "QueueFunction", "SagaTaskFunction"}
    assert {f for f in FUNCTIONS if "AWSSecretsManagerGetSecretValuePolicy" in _templates(f)} == steps
    assert {f for f in FUNCTIONS if "SNSPublishMessagePolicy" in _templates(f)} == steps
    assert {f for f in FUNCTIONS if "SQSSendMessagePolicy" in _templates(f)} == {
        "HttpFunction",  # timers
        "QueueFunction",  # timers
        "OutboxRelayFunction",  # the saga's events; failed stream records
        "LocationFunction",  # failed stream records
    }
    # The tracking consumer touches no table; the restaurants table is read-only to everyone.
    assert not {"DynamoDBCrudPolicy", "DynamoDBReadPolicy"} & _templates("LocationFunction")
    restaurants = {"TableName": {"Ref": "RestaurantsTable"}}
    assert all({"DynamoDBCrudPolicy": restaurants} not in _policies(f) for f in FUNCTIONS)


def test_alarms_watch_errors_dead_letters_and_queue_age() -> None:
    alarms = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms.values()}
    assert {
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    } <= watched
    errors = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms.values() if a["MetricName"] == "Errors"}
    assert errors == set(FUNCTIONS)
    dead_letters = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms.values()
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert {"SagaDeadLetterQueue", "SagaTimerDeadLetterQueue", "EventDeliveryDeadLetterQueue"} <= dead_letters
    assert all(a["AlarmActions"] == [{"Ref": "AlertsTopic"}] for a in alarms.values())
    assert RESOURCES["OperationsDashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def test_the_parameters_are_environment_and_saga_mode() -> None:
    parameters = TEMPLATE["Parameters"]
    assert parameters["Environment"]["AllowedValues"] == ["dev", "staging", "prod"]
    assert parameters["SagaMode"]["AllowedValues"] == ["queue", "stepfunctions"]
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["FOODDELIVERY_SAGA_MODE"] == {"Ref": "SagaMode"}
