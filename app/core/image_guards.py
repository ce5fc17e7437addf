"""What :func:`app.core.imaging.decode_image` checks before Pillow decodes a pixel.

Pillow opens a file by its content, with any of its ~40 plugins, and some of them hand the
file to an interpreter (EPS/PostScript goes to Ghostscript). Only the formats the app lists
are ever tried (:data:`OPEN_FORMATS`). Within those, a few container structures cost time or
memory out of all proportion to the file (a GIF's metadata sub-blocks are kept one Python
object each; every PNG chunk is handled in Python; libwebp keeps copies of the whole canvas),
so they are bounded here from the header and the block structure, before decoding.

Functions return a one-line problem for the user, or ``None`` when the file may be decoded.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from PIL import Image

# The formats of IMAGE_SUFFIXES, by Pillow plugin name. Camera JPEGs that carry extra frames
# (depth maps, previews) come back from the JPEG opener as format "MPO" (it has no opener of
# its own to list).
OPEN_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")

# Memory the decoded pixels of one image may take (estimated from the header, before
# decoding); the reduced copy the app keeps is at most 4096 px a side on top of it.
DECODE_BUDGET_BYTES = 512 * 2**20

# Sub-blocks and stray bytes before a GIF's first image (honest files: a handful; Pillow
# keeps every comment sub-block as a Python object, ~40 bytes of memory per byte of file).
GIF_MAX_BLOCKS = 100_000
# Chunks in a PNG (honest files: a few hundred even at 8 KB per IDAT chunk for 50 MP;
# Pillow handles each one in Python, ~15 microseconds apiece).
PNG_MAX_CHUNKS = 100_000
# Entries in a TIFF directory: classic TIFF cannot hold more; BigTIFF's count is 64-bit.
TIFF_MAX_ENTRIES = 65_535

# Bytes per pixel Pillow allocates for the decoded image, by mode (4 for everything else:
# RGB is stored as RGBX). libwebp's animation decoder, which Pillow uses for every WebP,
# holds two RGBA canvases and hands Pillow a third copy.
_ONE_BYTE_MODES = frozenset({"1", "L", "P"})
_WEBP_BYTES_PER_PIXEL = 16

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_LISTED: tuple[tuple[bytes, str], ...] = (
    (_PNG_MAGIC, "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
)

# Files the app does not open, recognised by their first bytes: documents and archives, and
# image formats that Pillow (or a phone) knows but the app does not list.
_NOT_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"%!PS", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "PostScript"),  # DOS EPS binary header
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)
_UNLISTED_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"8BPS", "Photoshop PSD"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"\x00\x00\x01\x00", "Windows icon"),
    (b"icns", "macOS icon"),
)
_UNSUPPORTED = "not a supported image file ({}; save it as JPEG or PNG)"


def not_an_image(head: bytes) -> str:
    """A message for bytes none of :data:`OPEN_FORMATS` accepted, naming what they look like."""
    for magic, name in _LISTED:
        if head.startswith(magic):
            return f"truncated or corrupt image data ({name} header unreadable)"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "truncated or corrupt image data (WebP header unreadable)"
    for magic, name in _NOT_IMAGES:
        if head.startswith(magic):
            return f"not an image file (looks like {name})"
    for magic, name in _UNLISTED_IMAGES:
        if head.startswith(magic):
            return _UNSUPPORTED.format(name)
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return _UNSUPPORTED.format("HEIC/AVIF")
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "not an image file (looks like an HTML page)"
    if text.startswith((b"<?xml", b"<svg")):
        return "not an image file (XML/SVG is not supported)"
    if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return _UNSUPPORTED.format("PNM/PPM")
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        decoded = ""
    if decoded and all(ch.isprintable() or ch in "\t\r\n" for ch in decoded):
        return "not an image file (looks like text)"
    return "not an image file (unrecognised format)"


def container_problem(stream: Any, head: bytes, max_pixels: int) -> str | None:
    """Check the block structure of GIF, PNG, WebP and BigTIFF files; the stream is left at
    its start. Other files (and anything malformed here) are left to Pillow to judge."""
    try:
        if head.startswith((b"GIF87a", b"GIF89a")):
            return _gif_problem(stream)
        if head.startswith(_PNG_MAGIC):
            return _png_problem(stream)
        if head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and len(head) >= 30:
            width = 1 + int.from_bytes(head[24:27], "little")
            height = 1 + int.from_bytes(head[27:30], "little")
            return size_problem(width, height, max_pixels) or cost_problem(
                width, height, _WEBP_BYTES_PER_PIXEL, "WebP"
            )
        if head.startswith((b"II+\x00", b"MM\x00+")):
            return _bigtiff_problem(stream, "<" if head[:1] == b"I" else ">")
        return None
    except (OSError, struct.error, IndexError):
        return None  # unreadable structure: Pillow reports it as corrupt
    finally:
        stream.seek(0)


def size_problem(width: int, height: int, max_pixels: int) -> str | None:
    if width <= 0 or height <= 0:
        return "image has no pixels"
    if width * height > max_pixels:
        return f"image too large: {width} x {height} pixels exceeds limit of {max_pixels:,}"
    return None


def decode_cost_problem(img: Image.Image) -> str | None:
    """Refuse an opened (not yet loaded) image whose decoded pixels would exceed the budget."""
    if img.format == "WEBP":
        per_pixel = _WEBP_BYTES_PER_PIXEL
    elif img.mode in _ONE_BYTE_MODES:
        per_pixel = 1
    elif img.mode.startswith("I;16"):
        per_pixel = 2
    else:
        per_pixel = 4
    if img.format == "TIFF":
        per_pixel += _tiff_raw_bytes_per_pixel(img)  # libtiff's strip/tile buffer
    width, height = img.size
    return cost_problem(width, height, per_pixel, img.format or "image")


def cost_problem(width: int, height: int, per_pixel: int, name: str) -> str | None:
    need = width * height * per_pixel
    if need <= DECODE_BUDGET_BYTES:
        return None
    return (
        f"image too large to decode: {width} x {height} {name} needs about "
        f"{need // 2**20:,} MB of memory (limit {DECODE_BUDGET_BYTES // 2**20:,} MB)"
    )


def _tiff_raw_bytes_per_pixel(img: Image.Image) -> int:
    tags = getattr(img, "tag_v2", {})
    try:
        bits = tags.get(258, (8,))  # BitsPerSample, one value per sample
        bits = tuple(bits) if isinstance(bits, tuple | list) else (bits,)
        samples = max(len(bits), int(tags.get(277, 1)))  # SamplesPerPixel
        return max(1, -(-max(int(b) for b in bits) * samples // 8))
    except (TypeError, ValueError):
        return 4


def _gif_problem(stream: Any) -> str | None:
    screen = stream.read(13)
    if len(screen) < 13:
        return None
    if screen[10] & 0x80:
        stream.seek(3 << ((screen[10] & 7) + 1), io.SEEK_CUR)
    blocks = 0
    while blocks <= GIF_MAX_BLOCKS:
        tag = stream.read(1)
        if tag in (b"", b",", b";"):
            return None  # the first image (or the end): Pillow decodes only that frame
        blocks += 1
        if tag != b"!":
            continue  # a stray byte: Pillow skips it, one at a time
        stream.read(1)  # extension label
        while blocks <= GIF_MAX_BLOCKS:
            length = stream.read(1)
            if not length or length == b"\x00":
                break
            blocks += 1
            stream.seek(length[0], io.SEEK_CUR)
    return f"GIF has too many metadata blocks before its first image (over {GIF_MAX_BLOCKS:,})"


def _png_problem(stream: Any) -> str | None:
    stream.seek(len(_PNG_MAGIC))
    for _ in range(PNG_MAX_CHUNKS):
        header = stream.read(8)
        if len(header) < 8 or header[4:8] == b"IEND":
            return None
        stream.seek(struct.unpack(">I", header[:4])[0] + 4, io.SEEK_CUR)
    return f"PNG has too many chunks (over {PNG_MAX_CHUNKS:,})"


def _bigtiff_problem(stream: Any, endian: str) -> str | None:
    header = stream.read(16)
    if len(header) < 16:
        return None
    stream.seek(struct.unpack(endian + "Q", header[8:16])[0])
    count = stream.read(8)
    if len(count) == 8 and struct.unpack(endian + "Q", count)[0] > TIFF_MAX_ENTRIES:
        return f"TIFF directory has too many entries (over {TIFF_MAX_ENTRIES:,})"
    return None
