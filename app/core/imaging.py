"""Decoding, listing, resizing and thumbnailing images (Pillow + OpenCV, no Qt).

Every image the app classifies goes through :func:`decode_image` (file or bytes to an
``(H, W, 3) uint8`` RGB array) and :func:`resize_rgb` (the one resize used for inference;
training calls the same function so both see identical pixels).
"""

from __future__ import annotations

import io
import logging
import os
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, UnidentifiedImageError

from app.core.image_guards import (
    OPEN_FORMATS,
    container_problem,
    decode_cost_problem,
    not_an_image,
    size_problem,
)

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
)
DEFAULT_MAX_PIXELS = 50_000_000

# Truncated files must fail loudly rather than come back half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# The longer side of a decoded image is reduced (box filter) to at most this, so the array
# the app keeps is at most 48 MB whatever the photo. Every consumer shrinks it further:
# model inputs are at most 2048 px a side, thumbnails and training crops far smaller, the
# still view is the size of the window.
MAX_DECODED_SIDE = 4096
# Pixels converted to RGB at a time: bounds the 8-, 16- and 64-bit temporaries of colour
# conversion, compositing and depth scaling whatever the image size.
_STRIP_PIXELS = 1 << 21

# Errors Pillow and its plugins raise on bad input (besides our own checks).
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
    IndexError,
    TypeError,
    KeyError,
    ZeroDivisionError,
    RuntimeError,
    AssertionError,
)

# warnings.catch_warnings() swaps process-wide state; serialise our use of it so two decoding
# threads cannot restore each other's filters in the wrong order.
_WARNINGS_LOCK = threading.Lock()

_EXIF_ORIENTATION = 0x0112


class ImageError(Exception):
    """An image that cannot be used; ``str(exc)`` is a one-line message for the user."""


def decode_image(source: str | Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBArray:
    """Decode a file path or encoded bytes to an ``(H, W, 3) uint8`` RGB array.

    Only the formats of :data:`IMAGE_SUFFIXES` are opened, recognised by their content
    (never by the file name; no other Pillow plugin is tried). The pixel count and the memory
    the decoded pixels need are checked from the header before any pixel is decoded
    (Pillow's own ``Image.MAX_IMAGE_PIXELS`` guard also applies, so a larger ``max_pixels``
    has no effect). Animations give their first frame; no other frame is read or counted.
    Images longer than :data:`MAX_DECODED_SIDE` are reduced by a whole factor (box filter;
    JPEG decodes at reduced size directly). EXIF orientation is applied; grey, palette,
    alpha (composited onto white), 16-bit, CMYK and other modes are converted to 8-bit RGB.
    Any failure raises :class:`ImageError` and nothing else.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise ImageError("empty file")
        return _decode_stream(io.BytesIO(data), max_pixels)
    path = Path(source)
    try:
        if not path.exists():
            raise ImageError("file not found")
        if path.is_dir():
            raise ImageError("is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageError("empty file")
        with path.open("rb") as stream:
            return _decode_stream(stream, max_pixels)
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read file ({exc.strerror or exc})") from None


def _decode_stream(stream: Any, max_pixels: int) -> RGBArray:
    head = stream.read(64)
    stream.seek(0)
    try:
        problem = container_problem(stream, head, max_pixels)
        if problem:
            raise ImageError(problem)
        img = _open_header(stream, head, max_pixels)
        with img:
            factor = reduction_factor(img.size)
            if factor > 1 and img.format in ("JPEG", "MPO"):
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly, never at full size
                img.draft(img.mode, (max(1, img.width // factor), max(1, img.height // factor)))
            problem = decode_cost_problem(img)
            if problem:
                raise ImageError(problem)
            try:
                img.load()
            except MemoryError:
                raise ImageError("not enough memory to decode this image") from None
            except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
                log.debug("decode failed: %r", exc)
                raise ImageError("truncated or corrupt image data") from None
            orientation = _exif_orientation(img)
            try:
                rgb = _to_reduced_rgb(img)
            except MemoryError:
                raise ImageError("not enough memory to decode this image") from None
            except _DECODE_ERRORS as exc:
                log.debug("colour conversion failed: %r", exc)
                raise ImageError(f"unsupported colour mode {img.mode!r}") from None
            return _orient(rgb, orientation)
    except ImageError:
        raise
    except Exception as exc:  # last line of defence: the contract is "only ImageError escapes"
        log.exception("unexpected error while decoding an image")
        raise ImageError(f"cannot decode image ({type(exc).__name__})") from None


def _open_header(stream: Any, head: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only), with the listed formats only; enforce the pixel limit."""
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(stream, formats=OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fired first (its limit is Image.MAX_IMAGE_PIXELS, ~89 MP).
        match = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(match.group(1)):,} pixels" if match else "too many pixels"
        pillow_limit = Image.MAX_IMAGE_PIXELS
        limit = max_pixels if pillow_limit is None else min(max_pixels, pillow_limit)
        raise ImageError(f"image too large: {count} exceeds limit of {limit:,}") from None
    except UnidentifiedImageError:
        raise ImageError(not_an_image(head)) from None
    except MemoryError:
        raise ImageError("not enough memory to decode this image") from None
    except _DECODE_ERRORS as exc:
        log.debug("open failed: %r", exc)
        raise ImageError(not_an_image(head)) from None
    problem = size_problem(*img.size, max_pixels)
    if problem:
        img.close()
        raise ImageError(problem)
    return img


def reduction_factor(size: tuple[int, int], max_side: int | None = None) -> int:
    """The smallest whole factor that brings the longer side of ``size`` to at most
    ``max_side`` (default :data:`MAX_DECODED_SIDE`)."""
    return max(1, -(-max(size) // (max_side or MAX_DECODED_SIDE)))


def _exif_orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8); a damaged EXIF block is ignored, the pixels are still good."""
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
        log.warning("ignoring unreadable EXIF orientation: %r", exc)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(rgb: RGBArray, orientation: int) -> RGBArray:
    """Apply an EXIF orientation the way ``ImageOps.exif_transpose`` does (views, one copy)."""
    if orientation in (5, 6, 7, 8):
        rgb = rgb.transpose(1, 0, 2)  # 5 is the transpose itself
        if orientation in (6, 7):
            rgb = rgb[:, ::-1]
        if orientation in (7, 8):
            rgb = rgb[::-1]
    else:
        if orientation in (3, 4):
            rgb = rgb[::-1]
        if orientation in (2, 3):
            rgb = rgb[:, ::-1]
    return np.ascontiguousarray(rgb)


def _to_reduced_rgb(img: Image.Image) -> RGBArray:
    """The loaded image as RGB, reduced by :func:`reduction_factor`, a strip of rows at a time
    (strips start at multiples of the factor, so the result equals one whole-image reduce)."""
    width, height = img.size
    factor = reduction_factor(img.size)
    rows = max(1, _STRIP_PIXELS // (width * factor)) * factor
    depth = _depth_range(img, rows) if img.mode in ("I", "F") else None
    out = np.empty((-(-height // factor), -(-width // factor), 3), dtype=np.uint8)
    for top in range(0, height, rows):
        part = img if rows >= height else img.crop((0, top, width, min(height, top + rows)))
        rgb = _to_rgb(part, depth)
        if factor > 1:
            rgb = np.asarray(Image.fromarray(rgb).reduce(factor), dtype=np.uint8)
        out[top // factor : top // factor + rgb.shape[0]] = rgb
    return out


def _to_rgb(img: Image.Image, depth: tuple[float, float] | None = None) -> RGBArray:
    mode = img.mode
    if mode == "RGB":
        out = np.array(img, dtype=np.uint8)
    elif mode.startswith("I;16") or mode in ("I", "F"):
        out = _grey_to_rgb(_high_depth_to_uint8(img, depth))
    elif mode in ("1", "L"):
        out = _grey_to_rgb(np.array(img.convert("L"), dtype=np.uint8))
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    ):
        out = _composite_on_white(img.convert("RGBA"))
    else:  # P, CMYK, YCbCr, LAB, HSV, ...
        out = np.array(img.convert("RGB"), dtype=np.uint8)
    if out.ndim != 3 or out.shape[2] != 3:
        raise ValueError(f"unexpected decoded shape {out.shape}")
    return np.ascontiguousarray(out)


def _finite(img: Image.Image) -> npt.NDArray[np.float64]:
    arr = np.asarray(img).astype(np.float64)
    if not np.all(np.isfinite(arr)):
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    return arr


def _depth_range(img: Image.Image, rows: int) -> tuple[float, float]:
    """The smallest and largest value of a 32-bit image (non-finite values count as 0)."""
    width, height = img.size
    lo, hi = np.inf, -np.inf
    for top in range(0, height, rows):
        arr = _finite(img if rows >= height else img.crop((0, top, width, min(height, top + rows))))
        if arr.size:
            lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def _high_depth_to_uint8(
    img: Image.Image, depth: tuple[float, float] | None = None
) -> npt.NDArray[np.uint8]:
    """Scale 16-bit, 32-bit integer and float grey images to 0-255 (never by clipping).

    ``I;16*`` is 0-65535. ``I`` is treated as 16-bit when its values fit (what PNG/PGM/TIFF
    16-bit files decode to), else stretched min-max. ``F`` in 0-1 is scaled by 255, in 0-255
    used as is, otherwise stretched min-max. ``depth`` is the (min, max) of the whole image
    when ``img`` is one strip of it.
    """
    arr = _finite(img)
    if depth is None:
        depth = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    lo, hi = depth
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        scaled = arr / 257.0
    elif img.mode == "F" and lo >= 0 and hi <= 1.0:
        scaled = arr * 255.0
    elif img.mode == "F" and lo >= 0 and hi <= 255.0:
        scaled = arr
    else:
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _grey_to_rgb(grey: npt.NDArray[np.uint8]) -> RGBArray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def _composite_on_white(rgba: Image.Image) -> RGBArray:
    arr = np.asarray(rgba, dtype=np.uint8).astype(np.uint16)
    alpha = arr[:, :, 3:4]
    # out = rgb * a + 255 * (1 - a), in integers with rounding
    blended = (arr[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)


def iter_image_files(
    paths: Iterable[str | Path], on_error: Callable[[Path, str], None] | None = None
) -> Iterator[Path]:
    """Expand files and folders into image files.

    Folders are walked recursively in sorted order and contribute only files with a known
    suffix (hidden files and folders are skipped: they are usually OS metadata such as
    ``._photo.jpg``). Files named explicitly are always yielded, whatever their suffix, so the
    caller reports a clear error for them instead of silently dropping them.

    What a walk cannot use -- a folder it cannot list (permission denied, path too long, ...),
    a broken symbolic link -- is passed to ``on_error(path, message)`` (logged as a warning
    when there is none), after the walk of that folder and before its files are yielded.
    Symbolic links to folders are not followed.
    """
    for item in paths:
        path = Path(item)
        if not path.is_dir():
            yield path
            continue
        found: list[Path] = []
        problems: list[tuple[Path, str]] = []

        def unreadable(
            exc: OSError, top: Path = path, out: list[tuple[Path, str]] = problems
        ) -> None:
            where = Path(os.fsdecode(exc.filename)) if exc.filename else top
            out.append((where, f"cannot read folder ({_os_reason(exc)})"))

        for root, dirs, files in os.walk(path, onerror=unreadable, followlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                full = Path(root) / name
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    found.append(full)  # a broken link here fails to decode: "file not found"
                elif full.is_symlink() and not full.exists():
                    problems.append((full, "broken symbolic link (its target does not exist)"))
        for where, message in sorted(problems):
            if on_error is None:
                log.warning("skipped %s: %s", where, message)
            else:
                on_error(where, message)
        yield from sorted(found, key=lambda p: p.relative_to(path).parts)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()


def _check_rgb(rgb: Any) -> RGBArray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise ValueError("expected a uint8 numpy array")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    return rgb


def resize_rgb(rgb: RGBArray, width: int, height: int) -> RGBArray:
    """Resize an ``(H, W, 3) uint8`` image to exactly ``width`` x ``height`` (aspect not kept).

    This is the single resize used for inference, and training must use it too so that both
    see the same pixels: ``cv2.INTER_AREA`` when the output is no larger than the input in
    both directions (it averages source pixels, so shrinking does not alias), otherwise
    ``cv2.INTER_LINEAR`` (``INTER_AREA`` degrades to near-nearest-neighbour when enlarging).
    """
    import cv2  # lazy: keeps OpenCV off the start-up path

    rgb = _check_rgb(rgb)
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width} x {height}")
    src_h, src_w = rgb.shape[:2]
    if (src_w, src_h) == (width, height):
        return np.ascontiguousarray(rgb).copy()
    shrinking = width <= src_w and height <= src_h
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=interpolation)
    return np.asarray(out, dtype=np.uint8)


def encode_jpeg(rgb: RGBArray, max_side: int = 160, quality: int = 80) -> bytes:
    """A JPEG thumbnail whose longer side is at most ``max_side`` (aspect ratio kept)."""
    rgb = _check_rgb(rgb)
    if max_side <= 0:
        raise ValueError("max_side must be positive")
    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    if factor < 1.0:
        new_w = max(1, round(width * factor))
        new_h = max(1, round(height * factor))
        rgb = resize_rgb(rgb, new_w, new_h)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(
        buffer, format="JPEG", quality=int(quality), optimize=True
    )
    return buffer.getvalue()


def encode_crop(rgb: RGBArray, width: int, height: int, quality: int = 90) -> bytes:
    """A training crop: the image stretched to the model's input size, as the model sees it,
    JPEG-encoded (about 15 KB at 224 x 224)."""
    rgb = _check_rgb(rgb)
    if width <= 0 or height <= 0:
        raise ValueError("crop size must be positive")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(resize_rgb(rgb, width, height))).save(
        buffer, format="JPEG", quality=int(quality)
    )
    return buffer.getvalue()
