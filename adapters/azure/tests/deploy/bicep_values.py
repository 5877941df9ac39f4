"""Reading ``deploy/azure/main.bicep`` as pycep-parser parses it: app settings and the values of the template's
variables for given parameters (the few operators the template's conditions use)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: A built-in role's id (a GUID): a variable holding one evaluates to its own name, for readable role sets.
_ROLE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def body(bicep: dict[str, Any], name: str) -> dict[str, Any]:
    """The resource ``name``'s properties (a loop's or a condition's body, else the resource's own)."""
    config: dict[str, Any] = bicep["resources"][name]["config"]
    inner: dict[str, Any] = config["config"] if "loop_type" in config or "condition" in config else config
    return inner


def app_settings(bicep: dict[str, Any], name: str = "app") -> dict[str, Any]:
    """The app settings of the Function App resource ``name``: the template's ``concat(sharedAppSettings, [...])``
    resolved, each setting's value as pycep-parser parsed it (a literal, a name, or an operator)."""
    concat = body(bicep, name)["properties"]["siteConfig"]["appSettings"]["function"]
    assert concat["type"] == "concat"
    shared = bicep["variables"][concat["parameters"]["arg_1"]]["value"]
    return {s["name"]: s["value"] for s in [*shared, *concat["parameters"]["arg_2"]]}


def evaluate(bicep: dict[str, Any], value: Any, parameters: Mapping[str, Any]) -> Any:
    """``value`` with ``parameters`` (name -> value; the others take their defaults) and the template's variables
    substituted, and its conditions (``==``, ``!=``, ``&&``, ``? :``) evaluated. A variable holding a role id stays
    its name.

    Raises:
        NotImplementedError: an operator this reader does not evaluate.
    """
    if isinstance(value, list):
        return [evaluate(bicep, v, parameters) for v in value]
    if isinstance(value, dict) and "operator" in value:
        kind, operands = value["operator"]["type"], value["operator"]["operands"]
        ev = {k: evaluate(bicep, v, parameters) for k, v in operands.items() if k not in ("true_value", "false_value")}
        if kind == "equals":
            return ev["operand_1"] == ev["operand_2"]
        if kind == "not_equals":
            return ev["operand_1"] != ev["operand_2"]
        if kind == "and":
            return bool(ev["operand_1"]) and bool(ev["operand_2"])
        if kind == "conditional":
            chosen = operands["true_value"] if ev["condition"] else operands["false_value"]
            return evaluate(bicep, chosen, parameters)
        raise NotImplementedError(kind)
    if isinstance(value, str):
        if value in parameters:
            return parameters[value]
        if value in bicep["parameters"]:
            return bicep["parameters"][value]["default"]
        if value in bicep["variables"]:
            held = bicep["variables"][value]["value"]
            return value if isinstance(held, str) and _ROLE_ID.fullmatch(held) else evaluate(bicep, held, parameters)
    return value
