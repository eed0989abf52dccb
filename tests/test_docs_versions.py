"""The third-party versions the docs say were tested are the versions this test run has installed.

Every "<package> X.Y.Z" in README.md and docs/ naming a package that the tests exercise (the pinned
integration requirements and the `dev` extra) must equal the installed version of that package, when it
is installed here: the suite runs in .venv (the `dev` extra, e.g. sentence-transformers) and in
.venv-integrations (all of them), so each environment checks what it tests.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "tests" / "integrations" / "requirements.txt"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _name(requirement: str) -> str:
    """The distribution name of a requirement line such as "chonkie==1.7.0" or "pytest>=8"."""
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]


def _tested_packages() -> list[str]:
    """Packages the tests exercise: the integration requirements and the `dev` extra."""
    import tomllib

    names = [_name(line) for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names += [_name(requirement) for requirement in project["optional-dependencies"]["dev"]]
    return sorted(set(names))


def version_mentions(package: str) -> list[tuple[str, int, str]]:
    """Every "<package> X.Y[.Z]" in the docs: (file, line number, version)."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(package)}\s+v?(\d+\.\d+(?:\.\d+)*)\b", re.IGNORECASE)
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            found += [(str(path.relative_to(ROOT)), number, match.group(1)) for match in pattern.finditer(line)]
    return found


def installed(package: str) -> str | None:
    """The installed version without a local label ("2.13.0+cpu" -> "2.13.0"), or None."""
    try:
        return importlib.metadata.version(package).split("+", 1)[0]
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize("package", [name for name in _tested_packages() if version_mentions(name)])
def test_docs_name_the_installed_version(package: str) -> None:
    mentions = version_mentions(package)
    version = installed(package)
    if version is None:
        pytest.skip(f"{package} is not installed here (the integration environment checks it)")
    wrong = [f"{path}:{line} says {package} {named}" for path, line, named in mentions if named != version]
    assert not wrong, f"the tests ran with {package} {version}; update: " + "; ".join(wrong)


def test_the_check_sees_the_documented_versions() -> None:
    # Guards the pattern: the docs do name the sentence-transformers version they were tested with.
    assert "sentence-transformers" in _tested_packages()
    assert version_mentions("sentence-transformers")
