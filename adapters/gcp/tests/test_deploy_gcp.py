"""The GCP deployment, offline: the Terraform (parsed with python-hcl2; checkov runs in deploy/gcp/check.sh) wires
every function of ``fooddelivery_gcp.main`` with the settings it needs, the runtime subscription is ordered and
dead-lettered, each Google-side caller may invoke exactly its function; and the functions' archive holds the core
and ``fooddelivery_gcp`` only, whose runtime dependencies include no AWS or Azure SDK."""

from __future__ import annotations

import re
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import hcl2
import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy" / "gcp"


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    """Every block of every .tf file, merged: resource type -> name -> body."""
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}}
    for path in sorted(DEPLOY.glob("*.tf")):
        with path.open() as f:
            doc = hcl2.load(f)
        doc = _norm(doc)
        for block in _many(doc.get("resource")):
            for rtype, named in block.items():
                merged["resource"].setdefault(rtype, {}).update(named)
        for block in _many(doc.get("locals")):
            merged["locals"].update(block)
        for block in _many(doc.get("variable")):
            merged["variable"].update(block)
    return merged


def _many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _norm(value: Any) -> Any:
    """python-hcl2 wraps every attribute value and nested block in a list: unwrap the single ones, drop line
    numbers."""
    if isinstance(value, list):
        items = [_norm(v) for v in value]
        return items[0] if len(items) == 1 else items
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if not k.startswith("__")}
    return value


def test_every_function_of_main_is_deployed_with_its_entry_point(tf: dict[str, Any]) -> None:
    main = (REPO / "adapters" / "gcp" / "src" / "fooddelivery_gcp" / "main.py").read_text()
    targets = set(re.findall(r"^def (\w+)\(", main, flags=re.M))
    functions = tf["locals"]["functions"]
    assert {f["entry"] for f in functions.values()} == targets
    assert functions["runtime-event"]["signature"] == "cloudevent"
    assert {k for k, f in functions.items() if f["ingress"] == "ALLOW_ALL"} == {"http-api"}


def test_the_functions_get_every_setting_the_settings_require(tf: dict[str, Any]) -> None:
    env = set(tf["locals"]["env"])
    source = (REPO / "adapters" / "gcp" / "src" / "fooddelivery_gcp" / "settings.py").read_text()
    read = set(re.findall(r'(?:required|optional)\("([A-Z_]+)"\)', source))
    assert read - {"FIRESTORE_DATABASE"} <= env
    assert {"FOODDELIVERY_PAYMENT_GATEWAY", "FOODDELIVERY_AUTH", "FOODDELIVERY_SAGA_MODE"} <= env


def test_the_runtime_subscription_is_ordered_pushed_with_oidc_and_dead_lettered(tf: dict[str, Any]) -> None:
    sub = tf["resource"]["google_pubsub_subscription"]["runtime"]
    assert sub["enable_message_ordering"] is True
    assert 'google_service_account.sa["push"].email' in str((sub["push_config"])["oidc_token"])
    dead = sub["dead_letter_policy"]
    assert "dead-letters" in dead["dead_letter_topic"] and dead["max_delivery_attempts"] == 10
    # a "not now" (the runtime function answers an error: a nack) comes back after an exponential backoff of 10 s
    # growing to 10 minutes, not at once, so 10 attempts span a store outage of several minutes
    assert sub["retry_policy"] == {"minimum_backoff": "10s", "maximum_backoff": "600s"}
    agent = tf["resource"]["google_pubsub_topic_iam_member"]["agent_dead_letters"]
    assert agent["role"] == "roles/pubsub.publisher" and "gcp-sa-pubsub" in agent["member"]


def test_each_google_caller_may_invoke_exactly_its_function(tf: dict[str, Any]) -> None:
    invokers = tf["resource"]["google_cloud_run_v2_service_iam_member"]["invoker"]["for_each"]
    assert invokers["http-api"] == "allUsers"
    for function, account in (
        ("runtime-event", "push"),
        ("saga-timer", "tasks"),
        ("outbox-sweep", "scheduler"),
        ("saga-step", "workflows"),
    ):
        assert f'sa["{account}"]' in invokers[function]


def test_no_account_gets_a_primitive_role(tf: dict[str, Any]) -> None:
    roles = [
        body["role"]
        for rtype, named in tf["resource"].items()
        if rtype.endswith("_iam_member")
        for body in named.values()
    ]
    assert roles and not any(r in ("roles/owner", "roles/editor", "roles/viewer") for r in roles)


def test_the_queue_the_sweep_and_the_workflow_are_declared(tf: dict[str, Any]) -> None:
    queue = tf["resource"]["google_cloud_tasks_queue"]["timers"]
    assert (queue["retry_config"])["max_attempts"] == 100
    job = tf["resource"]["google_cloud_scheduler_job"]["outbox_sweep"]
    assert job["schedule"] == "* * * * *" and "oidc_token" in str(job["http_target"])
    workflow = tf["resource"]["google_workflows_workflow"]["order_saga"]
    assert "workflows/order-saga.yaml" in workflow["source_contents"]
    assert (DEPLOY / "workflows" / "order-saga.yaml").exists()


def test_the_functions_archive_holds_the_core_and_fooddelivery_gcp_only(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_package", DEPLOY / "build_package.py")
    assert spec is not None and spec.loader is not None
    build_package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_package)
    out = tmp_path / "functions.zip"
    names = build_package.build(out)
    wheels = sorted(n for n in names if n.endswith(".whl"))
    assert sorted(names) == sorted(["main.py", "requirements.txt", *wheels])
    assert [w.split("/")[1].split("-")[0] for w in wheels] == ["fooddelivery", "fooddelivery_gcp"]
    with zipfile.ZipFile(out) as archive:
        packages = set()
        for wheel in wheels:
            with archive.open(wheel) as raw, zipfile.ZipFile(raw) as inner:
                packages |= {m.split("/")[0] for m in inner.namelist() if not m.split("/")[0].endswith(".dist-info")}
        assert archive.read("requirements.txt").decode().splitlines() == [f"./{w}" for w in wheels]
    assert packages == {"fooddelivery", "fooddelivery_gcp"}


def _runtime_closure(root: str) -> set[str]:
    """The distributions ``root`` needs at run time (no extras), from the installed metadata."""
    seen: set[str] = set()
    pending = [root]
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            pending.append(requirement.name)
    return seen


def test_the_runtime_dependencies_carry_no_aws_or_azure_sdk() -> None:
    closure = _runtime_closure("fooddelivery-gcp")
    assert {"fooddelivery", "google-cloud-firestore", "google-cloud-pubsub", "functions-framework"} <= closure
    assert not {d for d in closure if d.startswith(("boto", "azure", "aws-", "fooddelivery-aws", "fooddelivery-azure"))}
