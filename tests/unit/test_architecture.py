"""The shape of the code base, checked: a pure contract in core, adapters at the edges, and services
that never import one another. A newcomer who has read one service can then change any other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "credverify"
SERVICES = ("issuer", "registry", "federation", "flowstats", "admission")
# The libraries that do I/O; the contract must not need any of them.
IO_LIBRARIES = ("kafka", "aiokafka", "grpc", "grpc_health", "grpc_reflection", "sqlite3", "faust", "mode",
                "prometheus_client")


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "v1" not in p.relative_to(PACKAGE).parts)


def _imports(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth (imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _pure_core() -> list[Path]:
    return [p for p in _modules(PACKAGE / "core") if "adapters" not in p.relative_to(PACKAGE / "core").parts]


def test_the_checks_below_see_the_code_base() -> None:
    assert len(_pure_core()) >= 10 and all((PACKAGE / s).is_dir() for s in SERVICES)


@pytest.mark.parametrize("module", _pure_core(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_pure_core_imports_no_kafka_grpc_sqlite_or_faust(module: Path) -> None:
    io = sorted(name for name in _imports(module) if name.split(".")[0] in IO_LIBRARIES)
    assert not io, "%s is part of the contract but imports %s: move that to core/adapters/" % (
        module.relative_to(PACKAGE), ", ".join(io))


@pytest.mark.parametrize("module", _pure_core(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_pure_core_imports_no_adapter_and_no_service(module: Path) -> None:
    outside = sorted(name for name in _imports(module)
                     if name.startswith("credverify.core.adapters")
                     or name.split(".")[:2] in (["credverify", s] for s in SERVICES))
    assert not outside, "%s imports %s" % (module.relative_to(PACKAGE), ", ".join(outside))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    found = {}
    for module in _modules(PACKAGE / service):
        others = sorted(name for name in _imports(module)
                        if name.split(".")[:2] in (["credverify", s] for s in SERVICES if s != service)
                        or name == "credverify.cli")
        if others:
            found[str(module.relative_to(PACKAGE))] = others
    assert not found, "services must share through core, not import one another: %s" % found


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_one_composition_root(service: str) -> None:
    assert (PACKAGE / service / "bootstrap.py").is_file(), "%s has no bootstrap.py" % service


def _domain_and_handlers() -> list[Path]:
    return [PACKAGE / s / name for s in SERVICES for name in ("domain.py", "handlers.py")
            if (PACKAGE / s / name).is_file()]


@pytest.mark.parametrize("module", _domain_and_handlers(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_domain_and_handlers_do_no_io_of_their_own(module: Path) -> None:
    io = sorted(name for name in _imports(module)
                if name.split(".")[0] in IO_LIBRARIES or name.startswith("credverify.core.adapters")
                or ".adapters" in name)
    assert not io, "%s must reach the outside world through ports, but imports %s" % (
        module.relative_to(PACKAGE), ", ".join(io))
