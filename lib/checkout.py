"""Where raydapt runs from: its source checkout (an editable install, PYTHONPATH), or the
installed `jobs` and `lib` packages side by side in site-packages. A run records the
checkout's commit; a submission uploads the checkout, or else the two packages."""

from __future__ import annotations

from pathlib import Path

from lib.errors import NoInputError

# lib's parent: the project's checkout, or site-packages when installed.
ROOT = Path(__file__).resolve().parent.parent


def checkout() -> Path | None:
    """The project's source tree when raydapt runs from one (editable install, PYTHONPATH)."""
    return ROOT if (ROOT / "pyproject.toml").is_file() else None


def packages() -> list[Path]:
    """The installed packages, `jobs` and `lib`: jobs/ is found beside lib/, not imported
    (lib sits under it)."""
    if not (ROOT / "jobs" / "__init__.py").is_file():
        raise NoInputError(f"{ROOT / 'jobs'} not found: the raydapt installation is incomplete")
    return [ROOT / "jobs", ROOT / "lib"]
