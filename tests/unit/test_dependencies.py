"""The tested set of dependencies (constraints.txt) matches what pyproject.toml declares."""

import os
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def _declared(root):
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts.extend(extra)
    return [Requirement(text) for text in texts]


def _locked(root):
    pins = {}
    for raw in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_inside_its_bounds(root):
    """Each dependency of the project and of every extra has a pin in constraints.txt that its range allows."""
    pins = _locked(root)
    declared = _declared(root)
    assert len(declared) > 20
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in constraints.txt: run python tools/deps.py lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


def test_every_declared_range_excludes_the_next_major(root):
    """No dependency is open-ended: each range has an upper bound, so a new major cannot arrive unannounced."""
    for requirement in _declared(root):
        assert any(spec.operator in {"<", "<=", "=="} for spec in requirement.specifier), str(requirement)


@pytest.mark.skipif(bool(os.environ.get("KPI_DEPENDENCY_DRIFT")), reason="tools/deps.py drift runs the newest versions")
def test_the_installed_versions_are_the_tested_set(root):
    """What this environment runs with is what constraints.txt pins (the README and CI install with -c)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = _locked(root)
    checked = 0
    for requirement in _declared(root):
        name = canonicalize_name(requirement.name)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            continue  # an extra this environment did not install
        assert installed == pins[name], f"{name} {installed} is installed, constraints.txt pins {pins[name]}"
        checked += 1
    assert checked >= 8
