"""Byte-level builders for the hostile corpus: truncation points, bit flips, patched headers
(PNG IHDR, JPEG SOF, GIF screen, BMP, WebP VP8X), hand-made TIFF chains and nests, EXIF
cycles, animations, decompression bombs. Pure functions returning ``bytes``; see
:mod:`tests.robustness.corpus` for how they are used.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

TRUNCATIONS_PER_BASE = 24


def encode(rgb: np.ndarray, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **params)
    return buffer.getvalue()


# --------------------------------------------------------------------------- byte surgery


def truncation_offsets(length: int, count: int = TRUNCATIONS_PER_BASE) -> list[int]:
    """``count`` distinct cut points: the first bytes densely, then spread to the end."""
    head = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    spread = np.linspace(96, length - 1, max(2, count - len(head))).astype(int).tolist()
    cuts = sorted({c for c in head + spread + [length - 2, length - 1] if 0 < c < length})
    while len(cuts) > count:  # keep the first and last few, thin the middle
        cuts.pop(len(cuts) // 2)
    return cuts


def tail_is_trailer(base: str, cut: int, length: int) -> bool:
    """True when a cut only removes an end marker after complete pixel data.

    A JPEG without its final EOI, a GIF without its ';' trailer and a PNG without IEND
    (12 bytes) still hold every pixel; decoders may accept them.
    """
    missing = length - cut
    if base.startswith("jpeg"):
        return missing <= 2
    if base == "gif":
        return missing <= 2  # the last sub-block terminator and the trailer
    if base == "png":
        return missing <= 12
    return False


def bit_flipped(data: bytes, seed: int) -> bytes:
    """``data`` with 1-8 bits flipped; even seeds hit the first 64 bytes (the header)."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    span = min(64, len(out)) if seed % 2 == 0 else len(out)
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(0, span))
        out[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def block_overwritten(data: bytes, seed: int) -> bytes:
    """A 64-byte block in the middle replaced by zeros, 0xFF, or random bytes."""
    rng = np.random.default_rng(1000 + seed)
    out = bytearray(data)
    start = int(rng.integers(len(out) // 4, max(len(out) // 4 + 1, 3 * len(out) // 4)))
    fill = [b"\x00" * 64, b"\xff" * 64, rng.bytes(64), rng.bytes(64)][seed % 4]
    out[start : start + 64] = fill[: len(out[start : start + 64])]
    return bytes(out)


def _png_chunk(tag: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(tag + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)


def png_with_size(png: bytes, width: int, height: int) -> bytes:
    """A real PNG whose IHDR now claims ``width`` x ``height`` (CRC fixed, IDAT unchanged)."""
    ihdr_body = bytearray(png[16:29])
    ihdr_body[0:8] = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    return png[:8] + _png_chunk(b"IHDR", bytes(ihdr_body)) + png[33:]


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF segment now claims ``width`` x ``height``."""
    out = bytearray(jpeg)
    pos = 2
    while pos + 4 < len(out):
        if out[pos] != 0xFF:
            raise ValueError("not a JPEG marker stream")
        marker = out[pos + 1]
        length = struct.unpack(">H", out[pos + 2 : pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            out[pos + 5 : pos + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
            return bytes(out)
        pos += 2 + length
    raise ValueError("no SOF marker found")


def gif_with_size(gif: bytes, width: int, height: int) -> bytes:
    """A real GIF whose logical screen and first image descriptor claim the size."""
    out = bytearray(gif)
    out[6:10] = struct.pack("<HH", width, height)
    flags = out[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(out) and out[pos] == 0x21:  # skip extensions
        pos += 2
        while pos < len(out) and out[pos]:
            pos += out[pos] + 1
        pos += 1
    if pos < len(out) and out[pos] == 0x2C:
        out[pos + 5 : pos + 9] = struct.pack("<HH", width, height)
    return bytes(out)


def bmp_with_header(bmp: bytes, *, width: int | None = None, height: int | None = None,
                    bpp: int | None = None) -> bytes:  # fmt: skip
    out = bytearray(bmp)
    if width is not None:
        out[18:22] = struct.pack("<i", width)
    if height is not None:
        out[22:26] = struct.pack("<i", height)
    if bpp is not None:
        out[28:30] = struct.pack("<H", bpp)
    return bytes(out)


def webp_with_canvas(webp: bytes, width: int, height: int) -> bytes:
    """A VP8X header claiming a ``width`` x ``height`` canvas around a real VP8 bitstream."""
    payload = webp[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --------------------------------------------------------------------------- TIFF building

SHORT, LONG = 3, 4  # TIFF field types


def _ifd(entries: list[tuple[int, int, int]], next_offset: int) -> bytes:
    """A little-endian IFD of (tag, type, value) entries with inline values, sorted."""
    out = struct.pack("<H", len(entries))
    for tag, kind, value in sorted(entries):
        packed = struct.pack("<HI", value, 0)[:4] if kind == SHORT else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, 1) + packed
    return out + struct.pack("<I", next_offset)


def _grey_entries(width: int, height: int, strip: int, nbytes: int) -> list[tuple[int, int, int]]:
    return [
        (256, LONG, width),
        (257, LONG, height),
        (258, SHORT, 8),
        (259, SHORT, 1),
        (262, SHORT, 1),
        (273, LONG, strip),
        (277, SHORT, 1),
        (278, LONG, height),
        (279, LONG, nbytes),
    ]


def tiff_chain(ifds: int, *, loop_to: int | None = None, width: int = 8, height: int = 8,
               extra: list[tuple[int, int, int]] | None = None,
               byte_count: int | None = None) -> bytes:  # fmt: skip
    """A greyscale TIFF with ``ifds`` directories chained through next-IFD pointers.

    ``loop_to`` makes the last directory point back to directory ``loop_to`` (a cycle).
    ``extra`` entries go into the first IFD (e.g. a SubIFD or EXIF pointer).
    """
    pixels = bytes(range(64))  # at most 64 bytes whatever the header claims
    strip = 8
    first = strip + len(pixels)
    first += first % 2
    entry_count = 9 + len(extra or [])
    size = 2 + 12 * entry_count + 4
    plain = 2 + 12 * 9 + 4
    offsets = [first] + [first + size + plain * i for i in range(ifds - 1)]
    blob = bytearray(b"II*\x00" + struct.pack("<I", first) + pixels)
    blob += b"\x00" * (first - len(blob))
    nbytes = byte_count if byte_count is not None else len(pixels)
    for i, offset in enumerate(offsets):
        assert len(blob) == offset
        if i + 1 < len(offsets):
            nxt = offsets[i + 1]
        else:
            nxt = offsets[loop_to] if loop_to is not None else 0
        entries = _grey_entries(width, height, strip, nbytes)
        if i == 0 and extra:
            entries += extra
        blob += _ifd(entries, nxt)
    return bytes(blob)


def tiff_nested(depth: int, tag: int) -> bytes:
    """IFD0 points (through ``tag``: 330 SubIFDs, 34665 EXIF) to an IFD that points to the
    next, ``depth`` levels deep."""
    pixels = bytes(range(64))
    strip, first = 8, 72
    blob = bytearray(b"II*\x00" + struct.pack("<I", first) + pixels)
    ifd0_size = 2 + 12 * 10 + 4
    nested_size = 2 + 12 * 2 + 4
    level = [first + ifd0_size + nested_size * i for i in range(depth)]
    blob += _ifd([*_grey_entries(8, 8, strip, 64), (tag, LONG, level[0])], 0)
    for i in range(depth):
        nxt = level[i + 1] if i + 1 < depth else level[0]  # the deepest points back: a cycle
        blob += _ifd([(274, SHORT, 6), (tag, LONG, nxt)], 0)
    return bytes(blob)


def jpeg_with_exif_cycle(jpeg_rgb: np.ndarray) -> bytes:
    """A JPEG whose EXIF has orientation 6 and an EXIF/GPS IFD pointing back at IFD0."""
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += _ifd([(274, SHORT, 6), (34665, LONG, 8), (34853, LONG, 8)], 8)
    return encode(jpeg_rgb, "JPEG", quality=85, exif=b"Exif\x00\x00" + tiff)


# --------------------------------------------------------------------------- other builders


def animated_gif(frames: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(frames)
    images = [
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert("P")
        for _ in range(frames)
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=20, loop=0)
    return buffer.getvalue()


def animated(fmt: str, frames: int, size: tuple[int, int] = (64, 48)) -> bytes:
    rng = np.random.default_rng(frames + 7)
    images = [
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        for _ in range(frames)
    ]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def large_legal_png(side: int = 7000) -> bytes:
    """A greyscale ``side`` x ``side`` PNG (49 MP, under the 50 MP limit) that is all zeros:
    tiny on disk, ~150 MB once decoded to RGB."""
    row = b"\x00" * (side + 1)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_with_chunk_bomb(png: bytes, tag: bytes) -> bytes:
    """A valid PNG plus a zTXt/iCCP chunk that inflates to 64 MB."""
    bomb = zlib.compress(b"\x00" * (64 * 2**20), 9)
    body = (b"Comment\x00\x00" if tag == b"zTXt" else b"icc\x00\x00") + bomb
    return png[:33] + _png_chunk(tag, body) + png[33:]


def zero_png(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 6) -> bytes:
    """An all-zero PNG of any size and pixel format, tiny on disk (``colour_type`` 0 grey,
    2 RGB, 4 grey+alpha, 6 RGBA): e.g. 7000 x 7000 RGBA is 190 KB, 196 MB decoded."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + width * channels * bit_depth // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _tiny_gif(screen: tuple[int, int], body: bytes) -> bytes:
    """A GIF89a with a 2-colour palette (index 0 red, 1 white) around ``body``."""
    head = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\xff\x00\x00\xff\xff\xff"
    return head + body + b";"


# One 1 x 1 frame of palette index 0 (LZW: clear, 0, end), behind a graphic control block.
_GIF_FRAME = (
    b"!\xf9\x04\x00\x01\x00\x00\x00" + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
    + b"\x02\x02\x44\x01\x00"
)  # fmt: skip


def gif_many_frames(frames: int) -> bytes:
    """A looping 1 x 1 red GIF with ``frames`` frames (~23 bytes each)."""
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    return _tiny_gif((1, 1), loop + _GIF_FRAME * frames)


def gif_comment_blocks(blocks: int) -> bytes:
    """A 1 x 1 red GIF whose first image follows one comment of ``blocks`` one-byte
    sub-blocks (Pillow keeps each as a Python object: ~40 bytes of memory per file byte)."""
    return _tiny_gif((1, 1), b"!\xfe" + b"\x01c" * blocks + b"\x00" + _GIF_FRAME)


def gif_canvas(width: int, height: int) -> bytes:
    """A GIF whose logical screen is ``width`` x ``height`` around one 1 x 1 frame."""
    return _tiny_gif((width, height), _GIF_FRAME)


def apng_many_frames(frames: int, *, claimed: int | None = None, level: int = 128) -> bytes:
    """A 1 x 1 grey APNG (first frame ``level``) with ``frames`` real frames; acTL claims
    ``claimed`` frames (default: the real count)."""

    def fctl(seq: int) -> bytes:
        return _png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, 1, 1, 0, 0, 1, 100, 0, 0))

    pixels = zlib.compress(bytes([0, level]))
    body = [
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)),
        _png_chunk(b"acTL", struct.pack(">II", claimed or frames, 0)),
        fctl(0),
        _png_chunk(b"IDAT", pixels),
    ]
    seq = 1
    for _ in range(frames - 1):
        body.append(fctl(seq))
        body.append(_png_chunk(b"fdAT", struct.pack(">I", seq + 1) + pixels))
        seq += 2
    return b"\x89PNG\r\n\x1a\n" + b"".join(body) + _png_chunk(b"IEND", b"")


def png_many_chunks(chunks: int, level: int = 128) -> bytes:
    """A 1 x 1 grey PNG with ``chunks`` empty private chunks, half before and half after
    IDAT (Pillow handles each in Python: ~15 microseconds apiece)."""
    private = _png_chunk(b"prVt", b"")
    half = chunks // 2
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + private * half
        + _png_chunk(b"IDAT", zlib.compress(bytes([0, level])))
        + private * (chunks - half)
        + _png_chunk(b"IEND", b"")
    )


def bigtiff_huge_directory(entries: int = 2**40) -> bytes:
    """A BigTIFF whose first directory claims ``entries`` entries (64-bit count)."""
    return b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", entries) + b"\x00" * 64


def eps_file(size: tuple[int, int] = (16, 16)) -> bytes:
    """An Encapsulated PostScript file as Pillow writes it (opening it for pixels would run
    Ghostscript)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "EPS")
    return buffer.getvalue()


def dos_eps_file() -> bytes:
    """The same PostScript behind a DOS EPS binary header (magic C5 D0 D3 C6)."""
    ps = eps_file()
    return b"\xc5\xd0\xd3\xc6" + struct.pack("<II", 30, len(ps)) + b"\x00" * 18 + ps


def webp_animation_canvas(width: int, height: int) -> bytes:
    """A valid two-frame 8 x 8 animated WebP whose VP8X canvas is ``width`` x ``height``:
    libwebp decodes it, into a canvas that size (four bytes a pixel, kept twice)."""
    frames = [Image.new("RGB", (8, 8), (200, 30, 30)), Image.new("RGB", (8, 8), (30, 30, 200))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=40, loop=0)
    out = bytearray(buffer.getvalue())
    at = out.find(b"VP8X") + 12
    out[at : at + 6] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return bytes(out)
