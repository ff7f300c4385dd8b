"""E-certificates as QR codes: drawn by segno at error level Q (PNG, SVG), read back from a
picture by zxing-cpp (Pillow loads the picture)."""

from __future__ import annotations

import io
from pathlib import Path

import segno

from yimen.personal_space.credential import PREFIX, BadCredential

ERROR_LEVEL = "q"
MAX_IMAGE_BYTES = 20 << 20
MAX_PIXELS = 40_000_000


class NoQrCode(BadCredential):
    """A picture holds no QR code that could be read."""

    code = "no_qr_code"


def qr(text: str) -> segno.QRCode:
    return segno.make(text, error=ERROR_LEVEL, micro=False, boost_error=False)


def qr_png(text: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    qr(text).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def qr_svg(text: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    qr(text).save(out, kind="svg", scale=scale, border=4)
    return out.getvalue()


def qr_data_uri(text: str, scale: int = 4) -> str:
    """The QR code as an SVG `data:` URI, for an `<img>` on a page (no inline markup)."""
    return qr(text).svg_data_uri(scale=scale, border=4)


def read_image(path: Path) -> str:
    """The YM1 text of the first QR code in a picture (PNG, JPEG, ...); NoQrCode if none.
    Pillow loads the picture (bounded in bytes and pixels), zxing-cpp finds the code."""
    import zxingcpp  # here, not at the top: every `yimen` command would pay for loading them
    from PIL import Image

    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise NoQrCode("图片文件过大", "the picture file is too large")
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise NoQrCode("图片尺寸过大", "the picture is too large")
            found = zxingcpp.read_barcodes(im.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    except NoQrCode:
        raise
    except OSError as e:
        if isinstance(e, FileNotFoundError) or e.errno is not None:
            raise
        raise NoQrCode("无法读取图片", f"the picture cannot be read ({type(e).__name__})") from e
    except Exception as e:  # noqa: BLE001 (Pillow and zxing-cpp raise many types on odd files)
        raise NoQrCode("无法读取图片", f"the picture cannot be read ({type(e).__name__})") from e
    texts = [b.text for b in found if b.valid and b.text.startswith(PREFIX)]
    if not texts:
        raise NoQrCode("图片中没有电子证照二维码", "no e-certificate QR code was found in the picture")
    return texts[0]
