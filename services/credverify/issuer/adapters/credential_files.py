"""The practitioners' credential files a council hands out: ``<id>.sd-jwt`` and, where it fits, a QR code.

Each file holds one practitioner's details and their salts, so each is created readable by its owner
only (0600, whatever the umask) in a directory only its owner may enter (0700). A file name is the
credential id with anything but letters, digits, ``-`` and ``_`` percent-encoded (a dot too: no
register number can make a name like ``..``), so names are one-to-one with ids.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from credverify.core.errors import ConfigurationError
from credverify.core.private_files import write_private
from credverify.core.qr import qr_png
from credverify.core.sdjwt import IssuedCredential

CREDENTIAL_SUFFIX = ".sd-jwt"
QR_SUFFIX = ".qr.png"


@dataclass(frozen=True)
class WrittenCredential:
    credential_id: str
    path: Path
    qr_path: Path | None  # None: the credential does not fit a QR code


def file_stem(credential_id: str) -> str:
    """``KE-NCK/12345`` -> ``KE-NCK%2F12345``: safe on any file system, one name per id."""
    return quote(credential_id, safe="-_").replace(".", "%2E").replace("~", "%7E")  # quote keeps . and ~


class CredentialDirectory:
    """A directory of credential files. Raises ConfigurationError when it cannot be made private.

    A QR code takes tens of milliseconds to encode (choosing its mask is most of it), so ``write_many``
    encodes a batch's codes on every core; use it as a context manager to stop those processes."""

    def __init__(self, path: Path, *, qr: bool = True) -> None:
        self.path = path
        self._qr = qr
        self._pool: ProcessPoolExecutor | None = None
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o700)
        except OSError as exc:
            raise ConfigurationError("credentials-out: cannot use %s: %s" % (path, exc)) from exc

    def __enter__(self) -> CredentialDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def write(self, credential_id: str, credential: IssuedCredential) -> WrittenCredential:
        png = qr_png(credential.text) if self._qr else None
        return self._write(credential_id, credential, png)

    def write_many(self, issued: Mapping[str, IssuedCredential]) -> list[WrittenCredential]:
        ids = list(issued)
        if not self._qr or len(ids) < 2:
            return [self.write(cid, issued[cid]) for cid in ids]
        if self._pool is None:
            # spawn, not fork: the caller runs a Kafka producer's threads, which a fork would copy mid-step
            self._pool = ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"))
        pngs = self._pool.map(qr_png, [issued[cid].text for cid in ids], chunksize=32)
        return [self._write(cid, issued[cid], png) for cid, png in zip(ids, pngs, strict=True)]

    def _write(self, credential_id: str, credential: IssuedCredential, png: bytes | None) -> WrittenCredential:
        stem = file_stem(credential_id)
        path = self.path / (stem + CREDENTIAL_SUFFIX)
        write_private(path, credential.text.encode("ascii") + b"\n", replace=True)
        qr_path = None
        if png is not None:
            qr_path = self.path / (stem + QR_SUFFIX)
            write_private(qr_path, png, replace=True)
        return WrittenCredential(credential_id, path, qr_path)
