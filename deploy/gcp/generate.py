"""Regenerate the files deploy/gcp derives from the code: ``firestore.indexes.json`` (from
``fooddelivery_gcp.firestore.indexes``) and ``workflows/order-saga.yaml`` / ``order-saga-polling.yaml`` (the order
saga compiled by ``fooddelivery_gcp.workflows.compile``). The tests fail while they are stale.

Usage: ``.venv-gcp/bin/python deploy/gcp/generate.py``
"""

from __future__ import annotations

from pathlib import Path

from fooddelivery_gcp.firestore.indexes import indexes_json
from fooddelivery_gcp.workflows.compile import compile_workflow, workflow_yaml

from fooddelivery.application.order_saga import build_order_saga

HERE = Path(__file__).resolve().parent


def main() -> None:
    (HERE / "firestore.indexes.json").write_text(indexes_json())
    (HERE / "workflows").mkdir(exist_ok=True)
    for name, mode in (("order-saga.yaml", "callback"), ("order-saga-polling.yaml", "polling")):
        (HERE / "workflows" / name).write_text(workflow_yaml(compile_workflow(build_order_saga(), mode=mode)))
    print("regenerated firestore.indexes.json and workflows/")


if __name__ == "__main__":
    main()
