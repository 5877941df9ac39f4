"""``sam package`` against a local S3 (moto server): the deploy path's packaging step, exercised offline.

::

    .venv-aws/bin/python deploy/aws/package_check.py --sam .venv-sam/bin/sam

``deploy.sh`` runs ``sam deploy``, which first packages the template: every local ``CodeUri`` and
``DefinitionUri`` is uploaded to S3 and replaced by its S3 location. This runs that step for real, against a
moto server started here on a free loopback port (stopped by its process id at the end), and checks that:

- the Lambda artefact (``build/aws/fooddelivery-aws.zip``, built first if missing) is uploaded once, byte for
  byte (SAM uploads a ``.zip`` as it is: nothing is rebuilt or re-zipped on the way), and every function's
  ``CodeUri`` points at that one object;
- the state machine's ``DefinitionUri`` points at an upload of the generated ASL, byte for byte.

The rest of ``sam deploy`` (change sets, stack creation) needs CloudFormation and cannot be exercised offline.
Runs under ``.venv-aws`` (moto server, boto3); the SAM CLI comes from its own venv (``--sam``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parents[1]
BUCKET: Final = "fooddelivery-package-check"
_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class PackageCheckError(Exception):
    """Packaging failed, or uploaded something other than what was built."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port; yields its URL and stops it (by process id) afterwards.

    Raises:
        PackageCheckError: it did not answer within 20 s.
    """
    port = _free_port()
    executable = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise PackageCheckError(f"moto server did not start: {exc}") from exc
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _uris(packaged: dict[str, Any]) -> tuple[set[str], list[Any]]:
    code: set[str] = set()
    definitions: list[Any] = []
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code.add(str(props.get("CodeUri")))
        if resource.get("Type") == "AWS::Serverless::StateMachine":
            definitions.append(props.get("DefinitionUri"))
    return code, definitions


def check(sam: str, template: Path, artifact: Path) -> str:
    """Package ``template`` into a moto S3 bucket and verify the uploads (see the module docstring).

    Returns:
        A one-line summary.

    Raises:
        PackageCheckError: on any mismatch, or when ``sam package`` fails.
    """
    import boto3
    import yaml

    with moto_server() as url, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(_CREDENTIALS, AWS_ENDPOINT_URL=url, SAM_CLI_TELEMETRY="0", SAM_CLI_DISABLE_VERSION_CHECK="1")
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_keys())
        s3.create_bucket(Bucket=BUCKET)
        out = Path(tmp) / "packaged.yaml"
        done = subprocess.run(
            [
                sam,
                "package",
                "--template-file",
                str(template),
                "--s3-bucket",
                BUCKET,
                "--output-template-file",
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise PackageCheckError(f"sam package failed:\n{done.stderr or done.stdout}")
        packaged = yaml.safe_load(out.read_text(encoding="utf-8"))
        code, definitions = _uris(packaged)
        if len(code) != 1 or not next(iter(code)).startswith(f"s3://{BUCKET}/"):
            raise PackageCheckError(f"the functions' CodeUri should be one uploaded object, got {sorted(code)}")
        key = next(iter(code)).removeprefix(f"s3://{BUCKET}/")
        if s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() != artifact.read_bytes():
            raise PackageCheckError(f"the uploaded code {key} is not {artifact}")
        asl_files = {
            r["Properties"]["DefinitionUri"]
            for r in yaml.safe_load(template.read_text(encoding="utf-8"))["Resources"].values()
            if r.get("Type") == "AWS::Serverless::StateMachine"
        }
        for definition, relative in zip(definitions, sorted(asl_files), strict=True):
            body = s3.get_object(Bucket=definition["Bucket"], Key=definition["Key"])["Body"].read()
            if body != (template.parent / relative).read_bytes():
                raise PackageCheckError(f"the uploaded definition is not {relative}")
    functions = sum(1 for r in packaged["Resources"].values() if r.get("Type") == "AWS::Serverless::Function")
    return (
        f"sam package: {artifact.name} ({artifact.stat().st_size} bytes) uploaded once, unchanged, for {functions}"
        f" functions; {len(definitions)} state machine definition(s) uploaded unchanged"
    )


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns 0, or 1 on :class:`PackageCheckError`."""
    parser = argparse.ArgumentParser(prog="python deploy/aws/package_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sam", default=str(ROOT / ".venv-sam" / "bin" / "sam"), help="the SAM CLI")
    parser.add_argument("--template", type=Path, default=HERE / "template.yaml")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import build_artifact

    artifact = build_artifact.ARTIFACT
    if not artifact.exists():
        print(build_artifact.build(artifact).summary())
    try:
        print(check(args.sam, args.template, artifact))
    except PackageCheckError as exc:
        print(f"package_check: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
