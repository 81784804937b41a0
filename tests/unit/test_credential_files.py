"""The practitioners' credential files: private, one name per credential id, a QR code that reads back."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import zxingcpp
from PIL import Image

from credverify.core.qr import qr_png
from credverify.core.sdjwt import IssuedCredential
from credverify.issuer.adapters.credential_files import CredentialDirectory, file_stem

# Our codes are pure (one symbol, its quiet zone): only a QR code is looked for, so no other format is
# ever read into the noise of its modules.
QR = zxingcpp.BarcodeFormat.QRCode


def test_file_names_are_one_to_one_with_ids_and_never_leave_the_directory() -> None:
    ids = ["KE-NCK/12345", "KE-NCK/..", "KE-NCK/.", "A_B/C", "A/B_C", "KE-NCK/a%2Fb", "KE-NCK/a/b"]
    stems = [file_stem(i) for i in ids]
    assert len(set(stems)) == len(ids)
    assert all("/" not in s and "." not in s for s in stems)
    assert file_stem("KE-NCK/12345") == "KE-NCK%2F12345"


def test_files_are_private_even_under_a_permissive_umask_and_rewritten_in_place(tmp_path: Path) -> None:
    folder = CredentialDirectory(tmp_path / "out")
    (tmp_path / "out").chmod(0o755)
    folder = CredentialDirectory(tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    first = folder.write("KE-NCK/1", IssuedCredential(text="a.b.c~d~", digests=()))
    first.path.chmod(0o644)
    again = folder.write("KE-NCK/1", IssuedCredential(text="e.f.g~h~", digests=()))
    assert again.path == first.path and again.path.read_text() == "e.f.g~h~\n"
    for path in (again.path, again.qr_path):
        assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_qr_code_reads_back_as_the_credential_and_a_too_long_one_gets_none(tmp_path: Path) -> None:
    text = "eyJhbGciOiJFZERTQSJ9." + "A1b2-_" * 250 + "~"
    png = qr_png(text)
    assert png is not None
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=QR, is_pure=True)
    assert code.text == text
    assert qr_png("x" * 2954) is None, "beyond a version 40-L symbol"


def test_many_credentials_at_once_get_their_own_codes(tmp_path: Path) -> None:
    with CredentialDirectory(tmp_path / "out") as folder:
        written = folder.write_many({"KE-NCK/%d" % n: IssuedCredential(text="t%d~" % n, digests=())
                                     for n in range(3)})
    assert [w.credential_id for w in written] == ["KE-NCK/0", "KE-NCK/1", "KE-NCK/2"]
    for n, item in enumerate(written):
        assert item.qr_path is not None
        [code] = zxingcpp.read_barcodes(Image.open(item.qr_path), formats=QR, is_pure=True)
        assert code.text == "t%d~" % n
