"""A credential drawn as a QR code (PNG): what a council hands out beside the credential file, and what
the registrar pages show for one credential."""

from __future__ import annotations

import io

import segno

__all__ = ["QR_LEVELS", "QR_SCALE", "qr_png"]

# Medium error correction survives a crease or a scratched phone screen; a longer credential falls
# back to low, and one beyond a version 40 symbol at low (2,953 bytes) gets no QR code.
QR_LEVELS = ("M", "L")
QR_SCALE = 4  # pixels per module: a version 33 code is 596 px wide with its quiet zone


def qr_png(text: str) -> bytes | None:
    """Return a PNG of ``text`` as a QR code (byte mode), or None when no QR code can hold it."""
    for level in QR_LEVELS:
        try:
            code = segno.make_qr(text.encode("ascii"), error=level, mode="byte", boost_error=False)
        except segno.DataOverflowError:
            continue
        out = io.BytesIO()
        code.save(out, kind="png", scale=QR_SCALE)
        return out.getvalue()
    return None
