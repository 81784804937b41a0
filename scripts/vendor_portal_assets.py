"""Vendor the portal's browser assets from npm: `python scripts/vendor_portal_assets.py`.

The statisticians' portal is served where browsers may reach no CDN, so Vega, Vega-Lite, vega-embed
and the world map's shapes (Natural Earth's countries at 1:110m, as TopoJSON from the world-atlas
package) are served from services/credverify/portal/static/vendor/. This script installs exactly the
versions scripts/portal-assets/package-lock.json pins (`npm ci`) and copies the files the portal
loads, each package's licence beside them, and a MANIFEST.txt saying which version each came from.
Vega-Lite's version must be the one Altair's schema names (altair.SCHEMA_VERSION): the script checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "scripts" / "portal-assets"
TARGET = ROOT / "services" / "credverify" / "portal" / "static" / "vendor"
# (package, file inside it, name served)
FILES = [
    ("vega", "build/vega.min.js", "vega.min.js"),
    ("vega-lite", "build/vega-lite.min.js", "vega-lite.min.js"),
    ("vega-embed", "build/vega-embed.min.js", "vega-embed.min.js"),
    ("world-atlas", "countries-110m.json", "countries-110m.json"),
]


def main() -> int:
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PACKAGES, check=True)
    modules = PACKAGES / "node_modules"
    vega_lite = json.loads((modules / "vega-lite" / "package.json").read_text())["version"]
    import altair

    if "v" + vega_lite != altair.SCHEMA_VERSION:
        print("error: Altair %s writes Vega-Lite %s, package-lock.json pins vega-lite %s"
              % (altair.__version__, altair.SCHEMA_VERSION, vega_lite), file=sys.stderr)
        return 1
    if TARGET.exists():
        shutil.rmtree(TARGET)
    TARGET.mkdir(parents=True)
    manifest = []
    for package, inside, served in FILES:
        shutil.copyfile(modules / package / inside, TARGET / served)
        shutil.copyfile(modules / package / "LICENSE", TARGET / ("LICENSE-%s.txt" % package))
        version = json.loads((modules / package / "package.json").read_text())["version"]
        manifest.append("%s  from npm %s@%s (%s), licence LICENSE-%s.txt" % (served, package, version, inside, package))
    (TARGET / "MANIFEST.txt").write_text(
        "Vendored by scripts/vendor_portal_assets.py from the versions scripts/portal-assets/package-lock.json "
        "pins; do not edit by hand.\ncountries-110m.json: Natural Earth 1:110m admin-0 countries (public domain), "
        "ids are ISO 3166-1 numeric codes.\n" + "\n".join(manifest) + "\n")
    shutil.rmtree(modules)  # npm ci brings it back; nothing of it is committed
    print("vendored %d files into %s" % (len(FILES), TARGET.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
