"""Review of the deployed saga layout (deploy/azure): the README's way to keep the earlier layout must survive
``deploy.sh``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bicep_values import app_settings
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[4]
DEPLOY = ROOT / "deploy" / "azure"


def test_a_deployment_can_keep_the_earlier_sagas_container_through_the_template() -> None:
    """deploy/azure/README.md tells a deployment with sagas in flight to "keep the earlier layout by setting the app
    setting COSMOS_SAGAS_CONTAINER=sagas". But ``deploy.sh`` deploys ``main.bicep`` every time, and the template sets
    the site's ``siteConfig.appSettings`` -- the whole collection, so a setting made by hand is gone after the next
    deployment ("the last deployment replaces the complete set of app settings",
    https://blog.dotnetstudio.nl/posts/2021/04/merge-appsettings-with-bicep/) -- with ``COSMOS_SAGAS_CONTAINER``
    fixed to the literal ``'orders'`` and no ``sagas`` container declared. The next ``deploy.sh`` run thus moves the
    app to the new layout anyway, orphaning the instances in flight (their timers are dropped as naming no saga
    instance, a restaurant's confirmation finds none). The layout must be a template parameter (default
    ``orders``) that ``deploy.sh`` can pass."""
    tree: dict[str, Any] = BicepParser().parse(file_path=DEPLOY / "main.bicep")
    value = app_settings(tree)["COSMOS_SAGAS_CONTAINER"]
    assert value in tree["parameters"], f"COSMOS_SAGAS_CONTAINER is the literal {value!r}, not a template parameter"
    assert tree["parameters"][value].get("default") == "orders"
    assert value in (DEPLOY / "deploy.sh").read_text()
