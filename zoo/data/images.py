"""Robust image reading and atomic writing: RGB uint8 in, RGB uint8 out.

`read_image` never lets a bad file take a run down: it raises `SkipReason` (a `DataError`) whose
`reason` is a short machine string, so callers can skip the file and report why.

Reasons: "not-found", "zero-byte", "not-an-image", "truncated", "corrupt", "too-large", "too-small".

What is converted instead of skipped: greyscale (to RGB), 16-bit (scaled to 8-bit), RGBA/grey+alpha
(composited on black), CMYK JPEG (OpenCV converts), EXIF orientation (applied, for every format
OpenCV reads orientation from; JPEG always).
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from zoo.errors import DataError, InputError

# Refuse images above this many pixels before decoding (a 20000x20000 header would need 1.2 GB).
MAX_PIXELS = int(os.environ.get("FACEZOO_MAX_PIXELS", 64_000_000))
MAX_BYTES = 512 * 1024 * 1024
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                              ".pbm", ".pgm", ".ppm", ".pnm", ".jp2", ".gif"})


class SkipReason(DataError):
    """An input that cannot be used. `reason` is a short machine string, `path` the file."""

    def __init__(self, reason: str, path=None, detail: str = ""):
        self.reason, self.path, self.detail = reason, None if path is None else str(path), detail
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{reason}" + (f" ({detail})" if detail else ""))


def _sniff(data: bytes) -> str | None:
    """The image format from magic bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) > 2 and data[0:1] == b"P" and data[1:2] in b"123456" and data[2:3] in b" \t\r\n":
        return "pnm"
    if data[:12] in (b"\x00\x00\x00\x0cjP  \r\n\x87\n",) or data.startswith(b"\xff\x4f\xff\x51"):
        return "jp2"
    return None


def _header_info(data: bytes, fmt: str) -> tuple[int, int, bool] | None:
    """(width, height, has_alpha) from the header without decoding, where cheap; else None."""
    try:
        if fmt == "png" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            alpha = data[25] in (4, 6) or b"tRNS" in data[:data.find(b"IDAT")]
            return w, h, alpha
        if fmt == "gif":
            w, h = struct.unpack("<HH", data[6:10])
            return w, h, False
        if fmt == "bmp":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h), False
        if fmt == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                alpha = bool(data[20] & 0x10)
                w = 1 + int.from_bytes(data[24:27], "little")
                h = 1 + int.from_bytes(data[27:30], "little")
                return w, h, alpha
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF), bool((bits >> 28) & 1)
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF, False
        if fmt == "jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return None
                marker = data[i + 1]
                if marker == 0xFF:  # fill byte
                    i += 1
                    continue
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                length = struct.unpack(">H", data[i + 2:i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h, False
                if marker == 0xDA:
                    return None
                i += 2 + length
    except (struct.error, IndexError):
        return None
    return None


def image_size(path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header alone (the first 64 KiB), or None where the
    format keeps it elsewhere or the file cannot be read; a cheap check before any decoding."""
    try:
        with open(path, "rb") as f:
            data = f.read(65536)
    except OSError:
        return None
    fmt = _sniff(data)
    info = _header_info(data, fmt) if fmt else None
    return (int(info[0]), int(info[1])) if info else None


def _truncated(data: bytes, fmt: str) -> bool:
    if fmt == "png":
        return b"IEND" not in data[-64:]
    if fmt == "jpeg":  # the end-of-image marker must follow the last start-of-scan
        return data.rfind(b"\xff\xd9") < max(data.rfind(b"\xff\xda"), 2)
    if fmt == "gif":
        return not data.rstrip(b"\x00").endswith(b";")
    return False


def decode_image(data: bytes, path=None, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes to RGB uint8 (H, W, 3); raise SkipReason when unusable."""
    import cv2

    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    if len(data) == 0:
        raise SkipReason("zero-byte", path)
    fmt = _sniff(data)
    info = _header_info(data, fmt) if fmt else None
    if info is not None:
        w, h, alpha = info
        if w <= 0 or h <= 0:
            raise SkipReason("corrupt", path, f"header says {w}x{h}")
        if w * h > max_pixels:
            raise SkipReason("too-large", path, f"{w}x{h} = {w * h / 1e6:.0f} Mpx > limit "
                                                f"{max_pixels / 1e6:.0f} Mpx (FACEZOO_MAX_PIXELS)")
    else:
        alpha = fmt in ("tiff", "webp")
    if fmt and _truncated(data, fmt):
        raise SkipReason("truncated", path, f"{fmt} data ends early")
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_COLOR applies EXIF orientation and converts grey/CMYK; IMREAD_UNCHANGED keeps alpha but
    # ignores orientation, so it is used only where the header says there is an alpha channel.
    flags = cv2.IMREAD_UNCHANGED if alpha else cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
    try:
        img = cv2.imdecode(buf, flags)
    except cv2.error as exc:
        raise SkipReason("corrupt" if fmt else "not-an-image", path, str(exc).strip().splitlines()[-1])
    if img is None or img.size == 0:
        raise SkipReason("corrupt" if fmt else "not-an-image", path,
                         f"OpenCV could not decode this {fmt} file" if fmt else "unknown format")
    if img.shape[0] * img.shape[1] > max_pixels:
        raise SkipReason("too-large", path, f"{img.shape[1]}x{img.shape[0]} > limit")
    return to_rgb8(img)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """OpenCV's decoded BGR/BGRA/grey array of any depth -> RGB uint8 (alpha composited on black)."""
    import cv2

    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) * 255 + 32767) // 65535  # exact rounding of x / 257
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255)
    img = img.astype(np.uint8, copy=False)
    if img.ndim == 2:
        img = img[:, :, None]
    channels = img.shape[2]
    if channels in (2, 4):  # colour (or grey) + alpha: composite on black
        alpha = img[:, :, -1:].astype(np.uint16)
        img = ((img[:, :, :-1].astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
        channels -= 1
    if channels == 1:
        return np.ascontiguousarray(np.repeat(img, 3, axis=2))
    return cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)


def read_image(path, *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), or raise SkipReason with why it is unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SkipReason("not-found", path) from None
    if not path.is_file():
        raise SkipReason("not-a-file", path)
    if size == 0:
        raise SkipReason("zero-byte", path)
    if size > MAX_BYTES:
        raise SkipReason("too-large", path, f"{size / 2**20:.0f} MiB file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkipReason("unreadable", path, exc.strerror or str(exc)) from None
    return decode_image(data, path, max_pixels=max_pixels)


def encode_image(rgb: np.ndarray, ext: str = ".png") -> bytes:
    """RGB uint8 -> encoded bytes (".png", ".jpg", ".webp", ...)."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim not in (2, 3):
        raise InputError(f"expected an RGB uint8 (H, W, 3) array. Received: {rgb.dtype} {rgb.shape}")
    bgr = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, bgr)
    if not ok:
        raise InputError(f"OpenCV cannot encode {ext!r} images")
    return buf.tobytes()


def write_image(path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image atomically; the format follows the suffix (default .png)."""
    from zoo.io import atomic_write

    path = Path(path)
    data = encode_image(rgb, path.suffix.lower() or ".png")
    with atomic_write(path, "wb") as f:
        f.write(data)
    return path


def is_image_path(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(folder, *, recursive: bool = True, extensions=IMAGE_EXTENSIONS) -> list[Path]:
    """Files with one of `extensions` (image files by default) under `folder`, sorted; hidden files
    and folders are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"not a folder: {folder}. Pass a folder of images.")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and p.suffix.lower() in extensions
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))
