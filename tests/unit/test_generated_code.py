"""The committed modules under services/credverify/v1 must be what protos/ generates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_modules_match_the_proto_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("genproto", ROOT / "scripts" / "genproto.py")
    assert spec and spec.loader
    genproto = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(genproto)
    fresh = {p.name: p.read_text() for p in genproto.generate(tmp_path)}
    committed_dir = ROOT / "services" / "credverify" / "v1"
    committed = {p.name: p.read_text() for p in committed_dir.iterdir() if p.is_file()}
    assert set(fresh) == set(committed), "run `make proto`: the set of generated files changed"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, "run `make proto`: %s differ from protos/credverify/v1" % ", ".join(stale)
