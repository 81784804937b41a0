"""A credential's QR code read from a photo or a scan (zxing-cpp, with Pillow to open the image)."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

# A phone photo is a few MiB; Pillow's own guard against decompression bombs is 89 megapixels.
MAX_PIXELS = 40_000_000


class NoCodeFound(Exception):
    """The image could not be opened, or holds no QR code."""


def text_of_qr(data: bytes) -> str:
    """Return the text of the first QR code in the image ``data``. Raises NoCodeFound."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise NoCodeFound("image of %dx%d pixels, above %d" % (image.width, image.height, MAX_PIXELS))
            codes = zxingcpp.read_barcodes(image.convert("L"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise NoCodeFound("not an image Pillow can open: %s" % type(exc).__name__) from exc
    for code in codes:
        if code.valid and code.text and code.format == zxingcpp.BarcodeFormat.QRCode:
            return str(code.text)
    raise NoCodeFound("no QR code in the image")
