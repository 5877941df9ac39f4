"""Raw DynamoDB access for the store tests: a client of a test's own and a full scan of a table's items."""

from __future__ import annotations

from typing import Any

import boto3


def new_client(endpoint: str) -> Any:
    """A DynamoDB client on ``endpoint`` with botocore's default retries (what a deployed function gets), built for
    one test: hooks registered on it die with it."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    """Every raw item of ``table``, page by page, strongly consistent (a test-only full scan)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
