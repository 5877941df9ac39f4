"""A small status ledger in DynamoDB: what the scheduler and the notifier remember per message id.

Items live in the sagas table (hash key ``sagaId``), under a prefix of their own (``"timer#<id>"``,
``"notification#<id>"``), beside the saga instances and the Step Functions callback records (``"sfn#<id>"``):
each kind has its own key space, and the saga store only ever reads its own keys. Every item carries
``expiresAt`` (epoch seconds), the table's TTL attribute, so the ledger never grows without bound.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fooddelivery_aws._clients import LazyClient, error_code, reraise
from fooddelivery_aws.dynamodb.tables import SAGAS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["Ledger"]

_KEY = SAGAS.hash_key.name
_TTL = SAGAS.ttl_attribute or "expiresAt"


class Ledger:
    """Status per id, with conditional transitions.

    Args:
        table_name: the sagas table.
        prefix: the key prefix of this ledger (``"timer#"``).
        ttl: how long an entry is kept after its ``expires_from`` time.
        client: a boto3 DynamoDB client; built lazily when None.
        region_name, endpoint_url: of a lazily built client.
    """

    def __init__(
        self,
        table_name: str,
        prefix: str,
        *,
        ttl: timedelta,
        client: DynamoDBClient | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.table_name = table_name
        self.prefix = prefix
        self.ttl = ttl
        self._client: LazyClient[DynamoDBClient] = LazyClient(
            "dynamodb", client, region_name=region_name, endpoint_url=endpoint_url
        )

    def _key(self, entry_id: str) -> dict[str, Any]:
        return {_KEY: {"S": self.prefix + entry_id}}

    def status(self, entry_id: str) -> str | None:
        """The entry's status (strongly consistent read), or None when there is no entry.

        Raises:
            InfrastructureError: DynamoDB failed.
        """
        try:
            response = self._client.get().get_item(
                TableName=self.table_name, Key=self._key(entry_id), ConsistentRead=True
            )
        except Exception as exc:
            reraise(exc, "dynamodb", "ledger.get", ledger=self.prefix, entry_id=entry_id)
        item = response.get("Item") or {}
        value = item.get("status", {}).get("S")
        return str(value) if value is not None else None

    def put(
        self,
        entry_id: str,
        status: str,
        expires_from: datetime,
        *,
        unless: tuple[str, ...] = (),
        attributes: dict[str, str] | None = None,
    ) -> bool:
        """Write the entry with ``status``, unless its current status is one of ``unless``.

        Returns:
            Whether it was written.

        Raises:
            InfrastructureError: DynamoDB failed.
        """
        item: dict[str, Any] = {
            **self._key(entry_id),
            "itemType": {"S": self.prefix.rstrip("#")},
            "status": {"S": status},
            _TTL: {"N": str(int((expires_from + self.ttl).timestamp()))},
        }
        for name, value in (attributes or {}).items():
            item[name] = {"S": value}
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Item": item}
        if unless:
            names = {f":s{i}": {"S": s} for i, s in enumerate(unless)}
            kwargs["ConditionExpression"] = "attribute_not_exists(#k) OR NOT (#s IN (" + ", ".join(names) + "))"
            kwargs["ExpressionAttributeNames"] = {"#k": _KEY, "#s": "status"}
            kwargs["ExpressionAttributeValues"] = names
        try:
            self._client.get().put_item(**kwargs)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            reraise(exc, "dynamodb", "ledger.put", ledger=self.prefix, entry_id=entry_id)
        return True

    def transition(self, entry_id: str, expected: str, status: str) -> bool:
        """Set ``status`` if the entry exists with status ``expected``.

        Returns:
            Whether it changed.

        Raises:
            InfrastructureError: DynamoDB failed.
        """
        try:
            self._client.get().update_item(
                TableName=self.table_name,
                Key=self._key(entry_id),
                UpdateExpression="SET #s = :new",
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":new": {"S": status}, ":expected": {"S": expected}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            reraise(exc, "dynamodb", "ledger.update", ledger=self.prefix, entry_id=entry_id)
        return True
