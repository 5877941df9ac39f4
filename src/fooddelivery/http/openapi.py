"""The OpenAPI 3.1 document, generated from the route table and the same pydantic models that
validate.

Built on first request of ``GET /openapi.json`` (pydantic's JSON-schema generator is imported then),
so it costs nothing at cold start.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from fooddelivery.http.descriptions import DESCRIPTIONS, PATH_EXAMPLES, REQUEST_EXAMPLES
from fooddelivery.http.models import ProblemOut
from fooddelivery.http.problems import PROBLEM_CONTENT_TYPE
from fooddelivery.http.schemas import ID_SCHEMA

if TYPE_CHECKING:
    from fooddelivery.http.api import RouteSpec

__all__ = ["build_openapi"]

_REF = "#/components/schemas/{model}"
_Mode = Literal["validation", "serialization"]


def _error_description(status: int) -> str:
    return {
        400: "Malformed JSON, an empty body, or a JSON value that is not an object",
        401: "Missing, malformed, expired or wrongly signed bearer token",
        403: "The caller's role may not do this",
        404: "No such resource, or the caller may not know it exists (an unknown cursor too)",
        405: "Method not allowed",
        409: "Conflict with the current state (lifecycle, concurrent update, a price or menu that changed, no "
        "driver)",
        413: "Body larger than 256 KB",
        415: "Body not sent as application/json",
        422: "Invalid fields, parameters or Idempotency-Key reuse with another body",
    }.get(status, HTTPStatus(status).phrase)


def build_openapi(routes: Sequence[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``routes``.

    Request bodies use each model's validation schema, responses its serialization schema; every
    error is an RFC 9457 problem (``application/problem+json``, schema ``ProblemOut``). Operations
    with ``auth`` require a bearer JWT (``components.securitySchemes.bearer``).

    Args:
        routes: the route table.
        title: ``info.title``.
        version: ``info.version``.
    """
    keys: list[tuple[type[BaseModel], _Mode]] = []
    for spec in routes:
        if spec.request_model is not None and (spec.request_model, "validation") not in keys:
            keys.append((spec.request_model, "validation"))
        if spec.response_model is not None and (spec.response_model, "serialization") not in keys:
            keys.append((spec.response_model, "serialization"))
    keys.append((ProblemOut, "serialization"))
    refs, top = models_json_schema(keys, ref_template=_REF)
    problem = {PROBLEM_CONTENT_TYPE: {"schema": refs[(ProblemOut, "serialization")]}}
    request_id = {
        "description": "The request id (echoed or generated).",
        "schema": {"type": "string"},
    }

    paths: dict[str, dict[str, Any]] = {}
    for spec in routes:
        parameters: list[dict[str, Any]] = []
        for segment in spec.path.split("/"):
            if segment.startswith("{"):
                name = segment[1:-1]
                param: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": dict(ID_SCHEMA)}
                if name in PATH_EXAMPLES:
                    param["example"] = PATH_EXAMPLES[name]
                parameters.append(param)
        groups: dict[str, list[Any]] = {}
        for q in spec.query:
            if q.group is not None:
                groups.setdefault(q.group, []).append(q)
                continue
            param = {"name": q.name, "in": "query", "required": False, "schema": dict(q.schema)}
            param["description"] = q.description
            if q.example is not None:
                param["example"] = q.example
            parameters.append(param)
        for group, members in groups.items():
            # Parameters given together: OpenAPI can say so only of an object parameter exploded into its
            # properties (style form, explode: ``near=...&radiusKm=...``), all of them or none.
            names = [q.name for q in members]
            parameters.append(
                {
                    "name": group,
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": True,
                    "description": "; ".join(f"{q.name}: {q.description}" for q in members),
                    "schema": {
                        "type": "object",
                        "properties": {q.name: dict(q.schema) for q in members},
                        "additionalProperties": False,
                        "anyOf": [
                            {"required": names},
                            {"not": {"anyOf": [{"required": [n]} for n in names]}},
                        ],
                    },
                    "example": {q.name: q.example for q in members if q.example is not None},
                }
            )
        parameters += [
            {
                "name": name,
                "in": "header",
                "required": False,
                "schema": dict(schema),
                "description": text,
            }
            for name, (text, schema) in spec.headers.items()
        ]
        success_schema = (
            refs[(spec.response_model, "serialization")] if spec.response_model is not None else {"type": "object"}
        )
        success: dict[str, Any] = {
            "description": HTTPStatus(spec.success).phrase,
            "headers": {"X-Request-Id": request_id},
            "content": {"application/json": {"schema": success_schema}},
        }
        if spec.success == 201:
            success["headers"]["Location"] = {
                "description": "The new order's URL.",
                "schema": {"type": "string"},
            }
        responses: dict[str, Any] = {str(spec.success): success}
        if spec.operation_id == "create_order":
            responses["200"] = {
                "description": "The order an earlier request with the same Idempotency-Key created",
                "content": {"application/json": {"schema": success_schema}},
            }
        if spec.operation_id == "health":
            responses["503"] = {
                "description": "Degraded: the deployment cannot do its work now (checks and detail say why)",
                "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}},
                "content": {"application/json": {"schema": success_schema}},
            }
        for status in sorted({*spec.errors, 405, 500}):
            responses[str(status)] = {"description": _error_description(status), "content": problem}
        if spec.auth:
            responses["503"] = {
                "description": "A dependency is unavailable; retry later",
                "content": problem,
            }
        operation: dict[str, Any] = {
            "operationId": spec.operation_id,
            "summary": spec.summary,
            "description": DESCRIPTIONS[spec.operation_id],
            "tags": [spec.tag],
            "responses": responses,
        }
        if parameters:
            operation["parameters"] = parameters
        if spec.request_model is not None:
            body: dict[str, Any] = {"schema": refs[(spec.request_model, "validation")]}
            if spec.operation_id in REQUEST_EXAMPLES:
                body["example"] = REQUEST_EXAMPLES[spec.operation_id]
            operation["requestBody"] = {"required": True, "content": {"application/json": body}}
        if not spec.auth:
            operation["security"] = []
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "The food-delivery API, identical on every cloud. Money is a decimal "
            "string; times are ISO-8601 with offset; errors are RFC 9457 problem details.",
        },
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }
