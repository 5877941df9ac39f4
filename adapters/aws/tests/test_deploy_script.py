"""``deploy/aws/deploy.sh`` and ``check.sh``: what they would run, without an AWS account.

The deploy itself needs an account and cannot run here; ``--dry-run`` prints every command instead, and these
tests read them. ``shellcheck`` (where installed) keeps both scripts free of the usual shell faults.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from deploy_scripts import DEPLOY, ROOT


def _deploy(*args: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    """Run deploy.sh with a PATH that has neither the SAM CLI nor the AWS CLI on it."""
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _commands(stdout: str) -> list[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]


def test_a_dry_run_prints_build_deploy_and_outputs_and_runs_nothing() -> None:
    done = _deploy("--dry-run", "--payment-gateway", "acme_payments.stripe:build", "dev", "us-east-1")
    assert done.returncode == 0, done.stderr
    commands = _commands(done.stdout)
    assert [c.split()[1:2] for c in commands] == [
        ["deploy/aws/build_template.py"],
        ["deploy/aws/build_artifact.py"],
        ["deploy"],
        ["list"],
    ]
    deploy = commands[2]
    for part in (
        "--template-file deploy/aws/template.yaml",
        "--stack-name food-delivery-dev",
        "--region us-east-1",
        "--resolve-s3",
        "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND",
        "--parameter-overrides Environment=dev SagaMode=queue PaymentGateway=acme_payments.stripe:build",
        "--no-confirm-changeset",
    ):
        assert part in deploy
    assert "--s3-bucket" not in deploy
    assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", done.stdout)
    assert "arn:aws:iam" not in done.stdout


def test_prod_asks_before_it_changes_anything_and_the_saga_mode_is_passed() -> None:
    done = _deploy(
        "--dry-run", "--saga-mode", "stepfunctions", "--payment-gateway=fake", "prod", "eu-west-1"
    )
    assert done.returncode == 0, done.stderr
    deploy = _commands(done.stdout)[2]
    assert "--confirm-changeset" in deploy.split()
    assert "Environment=prod SagaMode=stepfunctions PaymentGateway=fake" in deploy
    assert "--stack-name food-delivery-prod" in deploy


@pytest.mark.parametrize(
    "args",
    [
        ("--dry-run", "--payment-gateway", "fake", "qa", "us-east-1"),
        ("--dry-run", "--payment-gateway", "fake", "dev", "mars-1"),
        ("--dry-run", "--payment-gateway", "fake", "dev"),
        ("--dry-run", "--saga-mode", "lambda", "--payment-gateway", "fake", "dev", "us-east-1"),
        ("--bogus", "--payment-gateway", "fake", "dev", "us-east-1"),
        ("--dry-run", "dev", "us-east-1"),  # no payment gateway: a stack must say how it charges
        ("--dry-run", "--payment-gateway", "stripe", "dev", "us-east-1"),
        ("--dry-run", "--payment-gateway", "", "dev", "us-east-1"),
    ],
)
def test_bad_arguments_stop_before_anything_runs(args: tuple[str, ...]) -> None:
    done = _deploy(*args)
    assert done.returncode == 2
    assert "usage:" in done.stderr
    assert _commands(done.stdout) == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_deploy_scripts_pass_shellcheck() -> None:
    done = subprocess.run(
        ["shellcheck", *sorted(str(p) for p in DEPLOY.glob("*.sh"))], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_the_scripts_are_executable_and_run_from_anywhere() -> None:
    for script in ("deploy.sh", "check.sh"):
        assert os.access(DEPLOY / script, os.X_OK), script
    done = subprocess.run(
        ["bash", str(DEPLOY / "deploy.sh"), "--dry-run", "--payment-gateway", "fake", "staging", "us-west-2"],
        cwd="/",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert ROOT.is_dir()
