"""Fetch the browser assets the app serves itself (no CDN at run time: many of our users sit
behind filters that block them) from the npm registry, each pinned by version and checked
against the registry's sha512 integrity, into the folder given.

    python launch/fetch_assets.py panel api/panel/static/vendor   # chart, date picker, font
    python launch/fetch_assets.py docs api/docs_assets/vendor     # Swagger UI
    python launch/fetch_assets.py test var/test-assets            # axe-core, tests only

The standard library only: `make` runs it before the project is installed, and the
Dockerfile's build stage with nothing but Python. Nothing fetched is committed. To move a
package: change its version and integrity (`npm view PACKAGE@VERSION dist.integrity`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # sha512-…, as the registry gives it
    files: dict[str, str]  # path inside the package → file name written

    @property
    def url(self) -> str:
        base = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{base}-{self.version}.tgz"


CHARTIST = Package(
    "chartist",
    "1.5.0",
    "sha512-mcCJuWHpNqkJucuWEeHxymQCQEeAOkamGypqCV5+C+uI2NF4I3BOn/tjIuZaowJVNAcrY9BG3janLaCWSNVPDw==",
    {
        "dist/index.umd.js": "chartist.umd.js",
        "dist/index.css": "chartist.css",
        "LICENSE-MIT": "chartist.LICENSE",
    },
)
VAZIRMATN = Package(
    "vazirmatn",
    "33.0.3",
    "sha512-fbjNc0CMjazZpIegWzz9OHGzI1APFboT+x7ZecXlUCtDe/nkyx7gtCTZnWS/+eeXG7fbfXymCPKJI8EsnM3iqw==",
    {
        "fonts/webfonts/Vazirmatn-Regular.woff2": "Vazirmatn-Regular.woff2",
        "fonts/webfonts/Vazirmatn-Bold.woff2": "Vazirmatn-Bold.woff2",
        "OFL.txt": "Vazirmatn.LICENSE",
    },
)
DATE_PICKER = Package(
    "@majidh1/jalalidatepicker",
    "0.9.12",
    "sha512-KsQ8yEXQph46CLeKxhrUvdYxD3now5EvhulDWlAOnV5YZKwX8PHcEBUy0EZUxDBgN54H9n31uy2kBMARgi7OWA==",
    {
        "dist/jalalidatepicker.min.js": "jalalidatepicker.js",
        "dist/jalalidatepicker.min.css": "jalalidatepicker.css",
        "LICENSE": "jalalidatepicker.LICENSE",
    },
)
SWAGGER_UI = Package(
    "swagger-ui-dist",
    "5.36.0",
    "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
    {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui.css": "swagger-ui.css",
        "favicon-32x32.png": "favicon.png",
        "LICENSE": "swagger-ui.LICENSE",
    },
)
AXE = Package(
    "axe-core",
    "4.14.1",
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
    {"axe.min.js": "axe.min.js"},
)
SETS = {
    "panel": (CHARTIST, VAZIRMATN, DATE_PICKER),
    "docs": (SWAGGER_UI,),
    "test": (AXE,),
}


def checked(package: Package, data: bytes) -> bytes:
    algorithm, _, expected = package.integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{package.name}@{package.version}: integrity mismatch ({package.url})")
    return data


def fetch(package: Package, dest: Path) -> None:
    with urllib.request.urlopen(package.url, timeout=60) as response:
        data = checked(package, response.read())
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for inside, name in package.files.items():
            member = archive.extractfile(f"package/{inside}")
            if member is None:
                raise SystemExit(f"{package.name}@{package.version} has no {inside}")
            (dest / name).write_bytes(member.read())


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in SETS:
        raise SystemExit(f"usage: fetch_assets.py {{{'|'.join(SETS)}}} DEST")
    dest = Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    for package in SETS[argv[0]]:
        fetch(package, dest)


if __name__ == "__main__":
    main(sys.argv[1:])
