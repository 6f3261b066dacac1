"""Given requirements.lock, the running environment holds exactly its versions, and the lock
covers every requirement of pyproject.toml (dependencies and every extra), at versions that
satisfy them, and nothing else.

The lock is made by ``make lock`` and installed by ``make install`` (README.md, "Dependencies and
upgrades"): a failure here means one of those was not run after a change.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
LOCK = ROOT / "requirements.lock"
# Locked on purpose though nothing requires them: make install takes pip from the lock too.
TOOLS = {canonicalize_name("pip")}


def _locked() -> dict[NormalizedName, str]:
    versions: dict[NormalizedName, str] = {}
    for number, raw in enumerate(LOCK.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and name.strip() and version.strip(), (
            f"requirements.lock line {number}: {raw!r} is not 'name==version'"
        )
        key = canonicalize_name(name.strip())
        assert key not in versions, f"requirements.lock line {number}: {name} is locked twice"
        versions[key] = version.strip()
    return versions


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def _declared() -> list[Requirement]:
    """Every requirement pyproject.toml declares: the dependencies and those of every extra."""
    project = _pyproject()
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def _needed() -> set[NormalizedName]:
    """Every distribution that pyproject.toml's requirements pull in here, transitively."""
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    todo = [(req, set(req.extras)) for req in _declared() if _applies(req, set())]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # its own requirements are unknown here; the check below names it
        for line in requires:
            sub = Requirement(line)
            if _applies(sub, extras):
                todo.append((sub, set(sub.extras)))
    return {name for name, _ in seen}


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    wrong = []
    for name, version in sorted(_locked().items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {version}, not installed")
            continue
        if Version(installed) != Version(version):
            wrong.append(f"{name}: locked {version}, installed {installed}")

    assert not wrong, (
        "this environment does not match requirements.lock; run `make install` "
        "(it installs from the lock):\n  " + "\n  ".join(wrong)
    )


def test_every_declared_requirement_is_locked_at_a_version_it_allows() -> None:
    locked = _locked()
    wrong = []
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        if name not in locked:
            wrong.append(f"{requirement}: not in requirements.lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            wrong.append(f"{requirement}: locked {locked[name]}, which it does not allow")

    assert not wrong, (
        "pyproject.toml and requirements.lock disagree; run `make lock`, then `make test`:\n  "
        + "\n  ".join(wrong)
    )


def test_the_lock_holds_every_package_the_project_pulls_in_and_no_other() -> None:
    needed = _needed()
    locked = set(_locked())

    unlocked = sorted(needed - locked)
    stale = sorted(locked - needed - TOOLS)
    assert not unlocked and not stale, (
        "requirements.lock is not the closure of pyproject.toml's requirements; "
        f"run `make lock`, then `make test`. Not locked: {unlocked}; locked but not needed: {stale}"
    )
