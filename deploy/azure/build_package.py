"""Build the Function App's deployment package: the app, the core and ``fooddelivery_azure`` -- nothing else.

The zip holds ``function_app.py`` and ``host.json`` (from ``app/``), the two project wheels in ``wheels/`` (built
here with ``pip wheel --no-deps``), and a ``requirements.txt`` naming those wheels: the platform's remote build
installs them and their declared dependencies (the core's and the Azure SDKs; never another cloud's -- a test walks
the dependency closure to check it). Usage::

    python deploy/azure/build_package.py [--out build/azure/app.zip]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "app"


def build(out: Path) -> Path:
    """Build the package at ``out``; returns it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = Path(tmp)
        for project in (ROOT, ROOT / "adapters" / "azure"):
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                 str(project)],
                check=True,
            )
        built = sorted(wheels.glob("*.whl"))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(APP / "function_app.py", "function_app.py")
            archive.write(APP / "host.json", "host.json")
            lines = [f"./wheels/{w.name}" for w in built]
            archive.writestr("requirements.txt", "\n".join(lines) + "\n")
            for wheel in built:
                archive.write(wheel, f"wheels/{wheel.name}")
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "azure" / "app.zip")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
