"""The Lambda artefact: the core and ``fooddelivery_aws`` with their wheels for python3.12 on arm64, nothing more.

Builds it for real (``pip install --platform manylinux2014_aarch64 --only-binary=:all:``): this needs PyPI (or
pip's cache), as the project's test machines have. Asserted: no AWS SDK (the runtime provides boto3), no Azure
or Google SDK, the handler modules present, compiled code for aarch64, and the Lambda size limits.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from deploy_scripts import handler_source, load

build_artifact = load("build_artifact")
build_template = load("build_template")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The artefact, built once for this module into a temporary folder."""
    return build_artifact.build(tmp_path_factory.mktemp("artifact") / "fooddelivery-aws.zip")


@pytest.fixture(scope="module")
def names(artifact: object) -> list[str]:
    """Every member of the artefact."""
    with zipfile.ZipFile(artifact.path) as archive:  # type: ignore[attr-defined]
        return archive.namelist()


def test_it_holds_no_aws_azure_or_google_sdk(names: list[str]) -> None:
    tops = {name.split("/", 1)[0].split("-", 1)[0].removesuffix(".py") for name in names}
    assert not tops & {"boto3", "botocore", "s3transfer", "azure", "google", "aws_lambda_powertools"}
    assert build_artifact.forbidden_entries(names) == []


def test_it_holds_the_core_and_the_aws_package(names: list[str]) -> None:
    assert "fooddelivery/__init__.py" in names
    assert "fooddelivery/bootstrap.py" in names
    assert "fooddelivery_aws/__init__.py" in names
    assert "fooddelivery_aws/dynamodb/tables.py" in names
    assert not any(name.split("/", 1)[0] in {"tests", "node_modules"} for name in names)


@pytest.mark.parametrize("spec", build_template.FUNCTIONS, ids=lambda s: s.logical_id)
def test_each_functions_handler_module_is_inside(spec: object, names: list[str]) -> None:
    handler: str = spec.handler  # type: ignore[attr-defined]
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    if handler_source(handler) is None:
        pytest.skip(f"{handler}: its module is not written yet")
    assert f"{module}.py" in names or f"{module}/__init__.py" in names


def test_compiled_dependencies_are_built_for_python_3_12_on_aarch64(names: list[str]) -> None:
    extensions = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("pydantic_core/") for n in extensions)
    assert all("cpython-312-aarch64-linux-gnu" in n or "abi3" in n for n in extensions), extensions


def test_bytecode_matches_the_runtime_when_a_python_3_12_is_available(artifact: object, names: list[str]) -> None:
    if artifact.compiled_with is None:  # type: ignore[attr-defined]
        pytest.skip("no python3.12 interpreter on this machine: the artefact ships sources only")
    assert "fooddelivery/__pycache__/bootstrap.cpython-312.pyc" in names
    assert not any(".cpython-311." in n for n in names)


def test_it_is_within_the_lambda_size_limits(artifact: object) -> None:
    # 50 MB zipped (direct upload), 250 MB unzipped (code and layers): AWS Lambda quotas.
    assert artifact.zipped_bytes < 50 * 1024 * 1024  # type: ignore[attr-defined]
    assert artifact.unzipped_bytes < 250 * 1024 * 1024  # type: ignore[attr-defined]
    assert artifact.zipped_bytes == Path(artifact.path).stat().st_size  # type: ignore[attr-defined]


def test_members_are_world_readable_with_fixed_timestamps(artifact: object) -> None:
    with zipfile.ZipFile(artifact.path) as archive:  # type: ignore[attr-defined]
        for info in archive.infolist():
            assert (info.external_attr >> 16) & 0o444 == 0o444, info.filename
            assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename


def test_only_the_cli_and_the_simulation_import_the_packages_left_out() -> None:
    assert build_artifact.cli_only_imports() == []
    assert not {r.split(">")[0].split("<")[0].split("=")[0] for r in build_artifact.requirements()} & (
        build_artifact.CLI_ONLY | build_artifact.RUNTIME_PROVIDED
    )
