"""Generate the Python modules for protos/credverify/v1 into services/ (or another folder).

    python scripts/genproto.py            # regenerate in place (make proto)
    python scripts/genproto.py OUT_DIR    # generate elsewhere (the drift test compares)

The modules are committed so that installing credverify needs no code
generator; tests/unit/test_generated_code.py fails when they drift.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto; return the generated files. Raises RuntimeError on failure."""
    sources = sorted(PROTO_ROOT.glob("credverify/v1/*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p.relative_to(PROTO_ROOT)) for p in sources],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + ", ".join(p.name for p in sources))
    package = out_dir / "credverify" / "v1"
    (package / "__init__.py").write_text(
        '"""Generated from protos/credverify/v1 by scripts/genproto.py: do not edit."""\n'
    )
    return sorted(p for p in package.iterdir() if p.is_file())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "services"
    for path in generate(target):
        print(path.relative_to(target))
