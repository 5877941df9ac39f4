"""Translate the SAM template to plain CloudFormation offline, for ``cfn-lint`` to check what AWS will create.

::

    .venv-sam/bin/python deploy/aws/sam_translate.py [--template T] [--out build/aws/template.translated.json]

``cfn-lint`` (1.x) validates a SAM template against SAM's own schemas, which accept most property values as
they come; the resources SAM expands it into (functions, roles and their policies, permissions, event source
mappings, the API's deployment, the state machines) are checked only after translation. This runs the SAM
translator (``samtranslator``, shipped with the SAM CLI) the way ``sam validate`` does, with no AWS call:

- local artefact paths become placeholder S3 locations (``CodeUri``), as ``sam validate`` does;
- a state machine's ``DefinitionUri`` (a local ASL file) becomes an inline ``Definition``, so ``cfn-lint``
  also checks the generated ASL (rule E2532) with its ``DefinitionSubstitutions`` applied.

Runs under ``.venv-sam`` (needs ``samtranslator`` and PyYAML, both dependencies of the SAM CLI).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
_PLACEHOLDER_CODE: Final = "s3://placeholder-bucket/fooddelivery-aws.zip"


class _NoManagedPolicies:
    """A managed-policy loader that knows no names: the template names managed policies only by ARN."""

    def load(self) -> dict[str, str]:
        """No names to resolve (SAM builds the ARNs of the policies it adds itself)."""
        return {}


def _load(template: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(template.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{template} is not a template")
    return data


def _localise(data: dict[str, Any], base: Path) -> None:
    """Replace local artefact paths as described in the module docstring (in place)."""
    function_globals = data.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = _PLACEHOLDER_CODE
    for resource in data.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = _PLACEHOLDER_CODE
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            uri = props.pop("DefinitionUri")
            props["Definition"] = json.loads((base / uri).read_text(encoding="utf-8"))


def translate(template: Path) -> dict[str, Any]:
    """The CloudFormation template SAM would deploy for ``template``.

    Raises:
        samtranslator.model.exceptions.InvalidDocumentException: the SAM template is invalid.
    """
    from samtranslator.translator.transform import transform

    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # feature-toggle notices, not findings
    data = _load(template)
    _localise(data, template.parent)
    translated: dict[str, Any] = transform(data, {}, _NoManagedPolicies())
    for resource in translated.get("Resources", {}).values():
        if resource.get("Type") == "AWS::StepFunctions::StateMachine":
            _inline_definition(resource["Properties"])
    return translated


def _inline_definition(props: dict[str, Any]) -> None:
    """SAM writes an inline definition as ``Fn::Join`` of literal lines; make it the plain JSON string it is, so
    ``cfn-lint`` parses and checks the ASL (it skips intrinsic functions)."""
    joined = props.get("DefinitionString")
    if isinstance(joined, dict) and list(joined) == ["Fn::Join"]:
        separator, parts = joined["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            props["DefinitionString"] = separator.join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns 0, or 1 when the translator rejects the template."""
    parser = argparse.ArgumentParser(prog="python deploy/aws/sam_translate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=HERE / "template.yaml")
    parser.add_argument("--out", type=Path, default=HERE.parents[1] / "build" / "aws" / "template.translated.json")
    args = parser.parse_args(argv)
    from samtranslator.model.exceptions import InvalidDocumentException

    try:
        translated = translate(args.template)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"sam_translate: {cause.message}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(translated, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(translated.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
