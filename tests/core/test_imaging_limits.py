"""What decode_image refuses to try and what it bounds: only the listed formats are opened
(never Ghostscript), animations cost their first frame only, container structures and
decoded memory are capped, and big images come back reduced to at most 4096 px a side."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import (
    EpsImagePlugin,
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from app.core import image_guards, imaging
from app.core.image_guards import DECODE_BUDGET_BYTES, OPEN_FORMATS
from app.core.imaging import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    MAX_DECODED_SIDE,
    ImageError,
    decode_image,
)
from tests.factories import noise_rgb
from tests.robustness import harness
from tests.robustness.hostile_bytes import (
    apng_many_frames,
    bigtiff_huge_directory,
    dos_eps_file,
    eps_file,
    gif_canvas,
    gif_comment_blocks,
    gif_many_frames,
    png_many_chunks,
    webp_animation_canvas,
    webp_with_canvas,
    zero_png,
)

RED = (255, 0, 0)
SECONDS_PER_FILE = 5.0  # harness.PER_FILE_LIMIT_S: slower than this counts as a hang


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def _timed_decode(data: bytes) -> tuple[np.ndarray, float]:
    began = time.perf_counter()
    rgb = decode_image(data)
    return rgb, time.perf_counter() - began


# --------------------------------------------------------------------------- formats


def test_open_formats_are_exactly_the_listed_suffixes() -> None:
    by_suffix = {Image.registered_extensions()[s] for s in IMAGE_SUFFIXES}
    assert by_suffix == set(OPEN_FORMATS)


@pytest.mark.parametrize("maker", [eps_file, dos_eps_file], ids=["eps", "dos-eps"])
def test_postscript_named_jpg_is_refused_without_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, maker: object
) -> None:
    data = maker()  # type: ignore[operator]
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "EPS", "Pillow alone hands this file to its EPS plugin"
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(data), formats=OPEN_FORMATS)

    calls: list[str] = []
    real_open = EpsImagePlugin.EpsImageFile._open

    def eps_open(self: EpsImagePlugin.EpsImageFile) -> None:
        calls.append("EpsImageFile._open")
        real_open(self)

    def ghostscript(*args: object, **kwargs: object) -> None:
        calls.append("Ghostscript")

    class NoProcess:
        def __init__(self, *args: object, **kwargs: object) -> None:
            calls.append(f"subprocess {args[:1]!r}")
            raise OSError("no subprocess may start while decoding")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", eps_open)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(subprocess, "Popen", NoProcess)
    path = tmp_path / "holiday.jpg"
    path.write_bytes(data)
    for source in (path, data):
        with pytest.raises(ImageError, match=r"^not an image file \(looks like PostScript\)$"):
            decode_image(source)
    assert calls == []


def _unlisted(fmt: str) -> bytes:
    img = Image.fromarray(noise_rgb((16, 12), seed=4))
    if fmt in ("MSP", "XBM"):
        img = img.convert("1")
    elif fmt == "SPIDER":
        img = img.convert("F")
    return _encode(img, fmt)


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("PPM", "not a supported image file (PNM/PPM; save it as JPEG or PNG)"),
        ("ICO", "not a supported image file (Windows icon; save it as JPEG or PNG)"),
        ("QOI", "not a supported image file (QOI; save it as JPEG or PNG)"),
        ("DDS", "not a supported image file (DDS; save it as JPEG or PNG)"),
        ("ICNS", "not a supported image file (macOS icon; save it as JPEG or PNG)"),
        ("PDF", "not an image file (looks like a PDF document)"),
        ("PCX", "not an image file"),
        ("TGA", "not an image file"),
        ("SGI", "not an image file"),
        ("MSP", "not an image file"),
        ("XBM", "not an image file"),
        ("SPIDER", "not an image file"),
        ("DIB", "not an image file"),
    ],
)
def test_formats_pillow_knows_but_the_app_does_not_list_are_refused(fmt: str, message: str) -> None:
    data = _unlisted(fmt)
    if fmt != "PDF":
        with Image.open(io.BytesIO(data)) as img:  # Pillow alone would open (and decode) it
            assert img.format == fmt
    with pytest.raises(ImageError) as info:
        decode_image(data)
    assert str(info.value).startswith(message)


def test_heic_and_avif_are_named() -> None:
    head = b"\x00\x00\x00\x20ftypheic" + b"\x00" * 40
    with pytest.raises(ImageError, match=r"HEIC/AVIF"):
        decode_image(head)


def test_camera_mpo_jpeg_gives_its_first_frame() -> None:
    first, second = Image.new("RGB", (32, 24), RED), Image.new("RGB", (32, 24), (0, 0, 255))
    data = _encode(first, "MPO", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as img:
        assert img.format == "MPO"
    rgb = decode_image(data)
    assert rgb.shape == (24, 32, 3)
    assert np.all(np.abs(rgb.astype(int) - RED) <= 6)


# --------------------------------------------------------------------------- animations


ANIMATIONS = {
    "gif-200000-frames": lambda: gif_many_frames(200_000),
    "apng-20000-frames": lambda: apng_many_frames(20_000),
    "apng-claims-2g-frames": lambda: apng_many_frames(2, claimed=2**31 - 1),
}


@pytest.mark.parametrize("name", sorted(ANIMATIONS))
def test_crafted_animations_cost_their_first_frame_only(name: str) -> None:
    data = ANIMATIONS[name]()
    rgb, elapsed = _timed_decode(data)
    assert elapsed < SECONDS_PER_FILE
    expected = RED if name.startswith("gif") else (128, 128, 128)
    assert rgb.shape == (1, 1, 3)
    assert tuple(rgb[0, 0]) == expected


def test_webp_with_thousands_of_frames_gives_its_first() -> None:
    frames = [Image.new("RGB", (4, 4), RED)] + [Image.new("RGB", (4, 4), (0, 0, i % 256))
                                                for i in range(1999)]  # fmt: skip
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    rgb, elapsed = _timed_decode(data)
    assert elapsed < SECONDS_PER_FILE
    assert np.all(rgb == RED)


def test_no_frame_is_ever_sought_or_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    touched: list[str] = []

    def spy(cls: type, name: str) -> None:
        def trap(self: object, *args: object) -> object:
            touched.append(f"{cls.__name__}.{name}")
            raise AssertionError(name)

        monkeypatch.setattr(cls, name, property(trap) if name != "seek" else trap)

    for cls in (GifImagePlugin.GifImageFile, PngImagePlugin.PngImageFile,
                WebPImagePlugin.WebPImageFile):  # fmt: skip
        spy(cls, "seek")
    spy(GifImagePlugin.GifImageFile, "n_frames")
    spy(GifImagePlugin.GifImageFile, "is_animated")
    spy(PngImagePlugin.PngImageFile, "text")  # seeks to the last frame of an APNG
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), (0, 0, 255))]
    for data in (
        gif_many_frames(50),
        apng_many_frames(50),
        _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        _encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
    ):
        decode_image(data)
    assert touched == []


def test_gif_metadata_blocks_are_capped() -> None:
    rgb, _ = _timed_decode(gif_comment_blocks(5_000))  # generous for honest files
    assert tuple(rgb[0, 0]) == RED
    began = time.perf_counter()
    with pytest.raises(ImageError, match=r"^GIF has too many metadata blocks before its first"):
        decode_image(gif_comment_blocks(image_guards.GIF_MAX_BLOCKS + 10))
    assert time.perf_counter() - began < 1.0


def test_png_chunk_count_is_capped() -> None:
    rgb, _ = _timed_decode(png_many_chunks(2_000))
    assert tuple(rgb[0, 0]) == (128, 128, 128)
    began = time.perf_counter()
    with pytest.raises(ImageError, match=r"^PNG has too many chunks \(over 100,000\)$"):
        decode_image(png_many_chunks(image_guards.PNG_MAX_CHUNKS + 10))
    assert time.perf_counter() - began < 1.0


def test_bigtiff_directory_size_is_capped() -> None:
    with pytest.raises(ImageError, match=r"^TIFF directory has too many entries"):
        decode_image(bigtiff_huge_directory())


# --------------------------------------------------------------------------- memory


def test_every_image_under_the_pixel_limit_fits_the_budget() -> None:
    # The largest mode Pillow decodes JPEG/PNG/GIF/BMP into is 4 bytes a pixel.
    assert DEFAULT_MAX_PIXELS * 4 <= DECODE_BUDGET_BYTES


def test_webp_canvas_is_checked_from_the_header_before_decoding() -> None:
    rgb = decode_image(webp_animation_canvas(2000, 1000))  # libwebp decodes it: a valid file
    assert rgb.shape == (1000, 2000, 3)
    assert np.all(np.abs(rgb[:8, :8].astype(int) - (200, 30, 30)) <= 8)
    with pytest.raises(ImageError, match=r"^image too large to decode: 7000 x 7000 WebP needs"):
        decode_image(webp_animation_canvas(7000, 7000))
    small = _encode(Image.new("RGB", (16, 16), RED), "WEBP", quality=90)
    with pytest.raises(ImageError, match=r"^image too large: 8000 x 8000 pixels exceeds"):
        decode_image(webp_with_canvas(small, 8000, 8000))


def test_decode_budget_refuses_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(Image.new("RGBA", (64, 48), (*RED, 255)), "PNG")
    monkeypatch.setattr(image_guards, "DECODE_BUDGET_BYTES", 64 * 48 * 4 - 1)
    with pytest.raises(ImageError, match=r"^image too large to decode: 64 x 48 PNG needs about"):
        decode_image(data)
    monkeypatch.setattr(image_guards, "DECODE_BUDGET_BYTES", 64 * 48 * 4)
    assert decode_image(data).shape == (48, 64, 3)


def test_large_images_come_back_reduced_to_the_longest_side() -> None:
    rgb = decode_image(zero_png(MAX_DECODED_SIDE * 2 + 1, 10, colour_type=0))
    assert rgb.shape == (4, 2731, 3)  # factor 3: ceil(8193 / 3) x ceil(10 / 3)
    assert max(rgb.shape) <= MAX_DECODED_SIDE
    assert decode_image(zero_png(MAX_DECODED_SIDE, 3, colour_type=0)).shape == (3, 4096, 3)


def _variants() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (70, 101, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (70, 101), dtype=np.uint8)
    ramp = np.linspace(-5000, 90_000, 70 * 101).reshape(70, 101)  # strips differ in range
    palette = Image.fromarray(rgb).quantize(16)
    return {
        "rgb": _encode(Image.fromarray(rgb), "PNG"),
        "rgba": _encode(Image.fromarray(np.dstack([rgb, alpha])), "PNG"),
        "la": _encode(Image.fromarray(np.dstack([rgb[..., 0], alpha])), "PNG"),
        "grey": _encode(Image.fromarray(rgb[..., 1]), "PNG"),
        "bilevel": _encode(Image.fromarray(rgb[..., 2]).convert("1"), "PNG"),
        "palette-transparent": _encode(palette, "GIF", transparency=3),
        "grey16": _encode(Image.fromarray((ramp - ramp.min()).astype(np.uint16)), "PNG"),
        "int32": _encode(Image.fromarray(ramp.astype(np.int32)), "TIFF"),
        "float": _encode(Image.fromarray((ramp / 7).astype(np.float32)), "TIFF"),
        "cmyk-tiff": _encode(Image.fromarray(rgb).convert("CMYK"), "TIFF"),
        "bmp": _encode(Image.fromarray(rgb), "BMP"),
    }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_strips_and_reduction_equal_one_whole_image_reduce(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    data = _variants()[name]
    full = decode_image(data)  # 101 x 70: one strip, no reduction
    assert full.shape == (70, 101, 3)
    monkeypatch.setattr(imaging, "_STRIP_PIXELS", 700)  # strips of 6 or 9 rows
    np.testing.assert_array_equal(decode_image(data), full)
    for side, factor in ((60, 2), (40, 3)):
        monkeypatch.setattr(imaging, "MAX_DECODED_SIDE", side)
        expected = np.asarray(Image.fromarray(full).reduce(factor))
        got = decode_image(data)
        assert got.shape == (-(-70 // factor), -(-101 // factor), 3)
        np.testing.assert_array_equal(got, expected)


def test_jpeg_is_decoded_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(0, 255, 400)
    gradient = np.dstack([np.tile(x, (120, 1)), np.tile(x[::-1], (120, 1)),
                          np.full((120, 400), 90.0)]).astype(np.uint8)  # fmt: skip
    data = _encode(Image.fromarray(gradient), "JPEG", quality=95)
    monkeypatch.setattr(imaging, "MAX_DECODED_SIDE", 100)
    drafted: list[tuple[int, int] | None] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def draft(self: JpegImagePlugin.JpegImageFile, mode: str | None,
              size: tuple[int, int] | None) -> object:  # fmt: skip
        drafted.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    rgb = decode_image(data)
    assert drafted == [(100, 30)]
    assert rgb.shape == (30, 100, 3)  # libjpeg at 1/4 scale: 400 x 120 -> 100 x 30
    expected = np.asarray(Image.fromarray(gradient).reduce(4)).astype(int)
    assert np.abs(rgb.astype(int) - expected).mean() < 4


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation: int) -> None:
    img = Image.fromarray(noise_rgb((5, 3), seed=orientation))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(img, "PNG", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    got = decode_image(data)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_orientation_is_applied_after_reduction(monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise: the stored left side ends on top
    img = Image.new("RGB", (120, 40), RED)
    img.paste((0, 0, 255), (60, 0, 120, 40))
    data = _encode(img, "PNG", exif=exif.tobytes())
    monkeypatch.setattr(imaging, "MAX_DECODED_SIDE", 60)
    rgb = decode_image(data)
    assert rgb.shape == (60, 20, 3)
    assert tuple(rgb[5, 10]) == RED
    assert tuple(rgb[-5, 10]) == (0, 0, 255)


PEAK_RSS_MB = 700.0
# The child reports its own VmHWM: unlike ru_maxrss it starts afresh at exec, so the test
# runner's own peak (inherited across fork) cannot hide the child's.
_CHILD = """
import sys, onnxruntime, cv2
from app.core.imaging import ImageError, decode_image
try:
    print(decode_image(sys.argv[1]).shape)
except ImageError as exc:
    print(exc)
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM:")))
"""
BIG_FILES = {
    "rgba-7000.png": lambda: zero_png(7000, 7000, colour_type=6),
    "grey16-7000.png": lambda: zero_png(7000, 7000, bit_depth=16, colour_type=0),
    "rgba16-7000.png": lambda: zero_png(7000, 7000, bit_depth=16, colour_type=6),
    "gif-canvas-7000.gif": lambda: gif_canvas(7000, 7000),
    "webp-canvas-7000.webp": lambda: webp_animation_canvas(7000, 7000),
}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rgba-7000.png", "(3500, 3500, 3)"),
        ("grey16-7000.png", "(3500, 3500, 3)"),
        ("rgba16-7000.png", "(3500, 3500, 3)"),
        ("gif-canvas-7000.gif", "(3500, 3500, 3)"),
        ("webp-canvas-7000.webp", "image too large to decode: 7000 x 7000 WebP"),
    ],
)
def test_peak_memory_of_big_but_allowed_images(tmp_path: Path, name: str, expected: str) -> None:
    """Before: 1.6-1.7 GB for the PNGs, 0.6 GB for the GIF, 1.1 GB for the WebP."""
    path = tmp_path / name
    path.write_bytes(BIG_FILES[name]())
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True, text=True, timeout=180, env=harness.child_env(), check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    shape, peak = run.stdout.strip().splitlines()
    assert shape.startswith(expected)
    assert int(peak) < PEAK_RSS_MB, f"{name}: peak {peak} MB"
