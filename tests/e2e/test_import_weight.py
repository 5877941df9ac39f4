"""Cold start: what importing the HTTP layer pulls in, checked in a fresh interpreter.

Measured with ``python -X importtime`` (see the HTTP layer's report): ``import fooddelivery.http`` loads only
the package's lazy index; :class:`HttpApi` brings the use cases but not pydantic, which loads with the first request
body validated (responses are written by ``fooddelivery.http.wire``); PyJWT (about 70 ms with ``cryptography``) loads
on the first token verified, never with the module.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _modules_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def _loaded(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in roots)


def test_importing_the_http_package_loads_neither_pydantic_nor_a_jwt_library() -> None:
    modules = _modules_after("import fooddelivery.http")

    assert _loaded(modules, "pydantic", "jwt", "cryptography") == []
    assert "fooddelivery.http.api" not in modules


@pytest.mark.parametrize(
    "statement",
    [
        "from fooddelivery.http import HttpApi",
        "from fooddelivery.http import HttpApi, DevAuthenticator, JwksAuthenticator, issue_dev_token",
    ],
)
def test_the_api_and_its_authenticators_load_no_jwt_library_and_no_web_framework(statement: str) -> None:
    modules = _modules_after(statement)

    assert _loaded(modules, "jwt", "cryptography", "fastapi", "starlette", "uvicorn", "flask") == []
    assert _loaded(modules, "pydantic", "pydantic_core") == []
    assert "fooddelivery.http.models" not in modules


def test_the_openapi_generator_loads_on_the_first_request_of_the_document() -> None:
    modules = _modules_after("from fooddelivery.http import HttpApi")

    assert "fooddelivery.http.openapi" not in modules
