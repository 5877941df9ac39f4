"""``scripts/test`` (README command 2) names every missing tool at once, before it installs or runs anything."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Fakes of every tool the check looks for, each new enough (name -> bash body).
EVERY_TOOL: dict[str, str] = {
    "node": 'if [ "$1" = -p ]; then echo true; else echo v20.11.0; fi',
    "npm": "true",
    "gcloud": "true",
    "java": "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2",
}


def _bin(tmp_path: Path, fakes: dict[str, str]) -> Path:
    """A PATH directory with the few tools the check itself uses, and ``fakes`` (name -> bash body); no python3, so
    a check that let the run go on would fail at once instead of installing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "sed", "head"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def _run(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run a copy of the script in an empty tree (with the cloud package folders it looks for): never this clone's,
    whose ``.venv`` it would install into once the check passed."""
    bash = shutil.which("bash")
    assert bash is not None
    tree = bin_dir.parent / "clone"
    (tree / "scripts").mkdir(parents=True)
    (tree / "adapters" / "gcp").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "test", tree / "scripts" / "test")
    return subprocess.run(
        [bash, str(tree / "scripts" / "test")],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_every_missing_tool_is_named_before_anything_is_installed(tmp_path: Path) -> None:
    run = _run(_bin(tmp_path, {}))

    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "scripts/test: missing, install first (see the README's Set up):",
        "  - Node.js >= 18 with npm (the AWS and Azure tests' npm packages)",
        "  - the google-cloud-cli (gcloud: the Firestore and Pub/Sub emulators)",
        "  - Java >= 17 (the Firestore and Pub/Sub emulators)",
    ]
    assert "== core" not in run.stdout


@pytest.mark.parametrize(
    ("java_says", "expected"),
    [('openjdk version "11.0.2" 2019-01-15', "Java 11"), ('java version "1.8.0_292"', "Java 8")],
)
def test_too_old_node_and_java_are_named_with_the_version_found(
    tmp_path: Path, java_says: str, expected: str
) -> None:
    fakes = {
        "node": 'if [ "$1" = -p ]; then echo false; else echo v16.20.0; fi',
        "npm": "true",
        "gcloud": "true",
        "java": f"echo '{java_says}' >&2",
    }
    run = _run(_bin(tmp_path, fakes))

    assert run.returncode == 1
    assert run.stderr.splitlines()[1:] == [
        "  - Node.js >= 18 (found v16.20.0)",
        f"  - Java >= 17 (found {expected})",
    ]


def test_with_every_tool_present_the_check_lets_the_run_start(tmp_path: Path) -> None:
    run = _run(_bin(tmp_path, EVERY_TOOL))

    assert "missing, install first" not in run.stderr
    assert run.stdout.startswith("== core: install")  # then python3 is not on this PATH: it stops there
    assert run.returncode != 0


def test_a_java_that_fails_is_named_not_a_silent_exit(tmp_path: Path) -> None:
    # macOS has /usr/bin/java even without a JDK: it says so and exits 1 (set -e and pipefail ended the script
    # there, with exit 1 and not a word)
    no_jdk = "echo 'The operation could not be completed. Unable to locate a Java Runtime.' >&2; exit 1"
    run = _run(_bin(tmp_path, {**EVERY_TOOL, "java": no_jdk}))

    assert run.returncode == 1
    assert run.stderr.splitlines()[1:] == [
        "  - Java >= 17 (java -version failed: The operation could not be completed. Unable to locate a Java Runtime.)"
    ]


def test_a_node_that_prints_before_its_answer_passes_and_one_that_fails_is_named(tmp_path: Path) -> None:
    # a preload (NODE_OPTIONS=--require dotenv/config: dotenv 17 logs "injecting env" on stdout) printed before
    # "true": Node.js 20 was refused as "Node.js >= 18 (found v20.11.0)"
    chatty = 'if [ "$1" = -p ]; then echo "[dotenv@17.2.0] injecting env (0)"; echo true; else echo v20.11.0; fi'
    (tmp_path / "chatty").mkdir()
    run = _run(_bin(tmp_path / "chatty", {**EVERY_TOOL, "node": chatty}))
    assert "missing, install first" not in run.stderr
    assert run.stdout.startswith("== core: install")
    # a node that fails (a bad NODE_OPTIONS) ended the script with its exit code, before gcloud and Java were looked at
    broken = "echo 'node: --foo is not allowed in NODE_OPTIONS' >&2; exit 9"
    (tmp_path / "broken").mkdir()
    run = _run(_bin(tmp_path / "broken", {"npm": "true", "node": broken}))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "node: --foo is not allowed in NODE_OPTIONS",
        "scripts/test: missing, install first (see the README's Set up):",
        "  - Node.js >= 18 (node -p failed: its error is above)",
        "  - the google-cloud-cli (gcloud: the Firestore and Pub/Sub emulators)",
        "  - Java >= 17 (the Firestore and Pub/Sub emulators)",
    ]
