"""Decoding every kind of image file, rejecting broken ones, listing, resizing, thumbnails."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from app.core.imaging import (
    IMAGE_SUFFIXES,
    ImageError,
    decode_image,
    encode_jpeg,
    iter_image_files,
    resize_rgb,
)
from app.core.paths import resources_dir
from tests.factories import (
    BLUE,
    GRAY_LEVEL,
    KIND_SUFFIX,
    MALFORMED_KINDS,
    RED,
    VALID_KINDS,
    huge_png_bytes,
    noise_rgb,
    write_image,
)

WHITE = (255, 255, 255)
TRASHNET_CLASSES = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


def _file(tmp_path: Path, kind: str, **kwargs: object) -> Path:
    return write_image(tmp_path / f"img_{kind}{KIND_SUFFIX[kind]}", kind, **kwargs)  # type: ignore[arg-type]


def _close(pixel: np.ndarray, expected: tuple[int, int, int], tol: int = 3) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(expected)) <= tol))


@pytest.mark.parametrize("kind", VALID_KINDS)
def test_every_valid_kind_decodes_to_rgb_uint8(tmp_path: Path, kind: str) -> None:
    rgb = decode_image(_file(tmp_path, kind))
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
    assert rgb.shape[2] == 3
    assert rgb.flags.c_contiguous
    expected_shape = (64, 48, 3) if kind == "exif_rotated" else (48, 64, 3)
    assert rgb.shape == expected_shape


@pytest.mark.parametrize("kind", ["jpeg", "png", "bmp", "webp", "tiff", "cmyk"])
def test_solid_colour_survives_each_format(tmp_path: Path, kind: str) -> None:
    rgb = decode_image(_file(tmp_path, kind, color=RED))
    tol = 6 if kind in ("jpeg", "cmyk") else 0
    assert _close(rgb[24, 32], RED, tol)
    assert _close(rgb.reshape(-1, 3).mean(axis=0).round().astype(int), RED, tol)


def test_bytes_and_path_give_the_same_pixels(tmp_path: Path) -> None:
    path = _file(tmp_path, "png")
    np.testing.assert_array_equal(decode_image(path), decode_image(path.read_bytes()))
    np.testing.assert_array_equal(decode_image(path), decode_image(str(path)))


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    path = _file(tmp_path, "gif", color=RED)
    with Image.open(path) as img:
        assert getattr(img, "n_frames", 1) == 2  # the factory really wrote an animation
    rgb = decode_image(path)
    assert _close(rgb[0, 0], RED, 0)
    assert _close(rgb[-1, -1], RED, 0)


def test_grayscale_is_replicated_to_three_channels(tmp_path: Path) -> None:
    rgb = decode_image(_file(tmp_path, "gray"))
    assert np.all(rgb == GRAY_LEVEL)


@pytest.mark.parametrize(("kind", "opaque"), [("rgba", RED), ("palette", RED), ("la", (0, 0, 0))])
def test_transparency_is_composited_onto_white(
    tmp_path: Path, kind: str, opaque: tuple[int, int, int]
) -> None:
    rgb = decode_image(_file(tmp_path, kind, color=RED))
    assert _close(rgb[10, 5], opaque, 0), "opaque left half keeps its colour"
    assert _close(rgb[10, -5], WHITE, 0), "transparent right half becomes white, not black"


def test_semi_transparent_pixel_blends_with_white() -> None:
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    rgb = decode_image(buffer.getvalue())
    assert np.all(np.abs(rgb.astype(int) - 127) <= 1)


def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = _file(tmp_path, "png16")
    with Image.open(path) as img:
        assert img.mode.startswith("I;16") or img.mode == "I"
        raw = np.array(img).astype(np.float64)
    rgb = decode_image(path)
    expected = np.rint(raw / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    np.testing.assert_array_equal(rgb[:, :, 1], expected)
    row = rgb[0, :, 0]
    assert row[0] == 0
    assert row[-1] == 255
    assert np.all(np.diff(row.astype(int)) >= 0)
    assert 100 < int(row[len(row) // 2]) < 155, "mid-ramp must be mid-grey (clipping gives 255)"


def test_32_bit_integer_and_float_images(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 32).round().astype(np.int32), (8, 1))
    Image.fromarray(ramp).save(tmp_path / "i32.tif")
    rgb = decode_image(tmp_path / "i32.tif")
    np.testing.assert_array_equal(rgb[:, :, 0], np.rint(ramp / 257.0).astype(np.uint8))

    unit = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (8, 1))
    Image.fromarray(unit).save(tmp_path / "f32.tif")
    rgb = decode_image(tmp_path / "f32.tif")
    np.testing.assert_array_equal(rgb[:, :, 2], np.rint(unit * 255).astype(np.uint8))


def test_bilevel_image(tmp_path: Path) -> None:
    img = Image.new("1", (8, 8), 0)
    img.paste(1, (4, 0, 8, 8))
    img.save(tmp_path / "bw.png")
    rgb = decode_image(tmp_path / "bw.png")
    assert np.all(rgb[:, :4] == 0)
    assert np.all(rgb[:, 4:] == 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape 64x48: left half red, right half blue, orientation 6 (rotate 90 CW).
    path = _file(tmp_path, "exif_rotated", color=RED)
    with Image.open(path) as img:
        assert img.size == (64, 48)
        assert img.getexif()[0x0112] == 6
    rgb = decode_image(path)
    assert rgb.shape == (64, 48, 3), "portrait after rotation"
    assert _close(rgb[5, 24], RED, 8), "the stored left side is now on top"
    assert _close(rgb[-5, 24], BLUE, 8), "the stored right side is now at the bottom"


EXPECTED_MESSAGES = {
    "empty": "empty file",
    "truncated_jpeg": "truncated or corrupt image data",
    "truncated_png": "truncated or corrupt image data",
    "text_as_jpg": "not an image file (looks like text)",
    "huge_png": "image too large",
    "random": "not an image file",
    "html": "not an image file (looks like an HTML page)",
}


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_files_raise_one_line_image_error(tmp_path: Path, kind: str) -> None:
    path = _file(tmp_path, kind)
    with pytest.raises(ImageError) as info:
        decode_image(path)
    message = str(info.value)
    assert EXPECTED_MESSAGES[kind] in message
    assert "\n" not in message
    with pytest.raises(ImageError, match=EXPECTED_MESSAGES[kind].split(" (")[0]):
        decode_image(path.read_bytes()) if path.stat().st_size else decode_image(b"")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^file not found$"):
        decode_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        decode_image(tmp_path)


def test_pixel_limit_is_checked_from_the_header(tmp_path: Path) -> None:
    path = _file(tmp_path, "png")  # 64 x 48
    with pytest.raises(
        ImageError, match=r"^image too large: 64 x 48 pixels exceeds limit of 1,000$"
    ):
        decode_image(path, max_pixels=1000)
    assert decode_image(path, max_pixels=64 * 48).shape == (48, 64, 3)


def test_large_header_is_rejected_before_decoding() -> None:
    # 8000 x 8000 = 64 MP: over our 50 MP default but under Pillow's own guard, and the pixel
    # data is missing, so only a header check can produce "too large" (decoding would fail).
    data = huge_png_bytes(8000, 8000)
    with pytest.raises(ImageError, match=r"8000 x 8000 pixels exceeds limit of 50,000,000"):
        decode_image(data)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data, max_pixels=80_000_000)


def test_pillow_decompression_bomb_warning_does_not_escape() -> None:
    data = huge_png_bytes(10_000, 10_000)  # 100 MP: Pillow warns (over ~89 MP) but does not raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning leaking out would fail the test
        with pytest.raises(ImageError, match="image too large"):
            decode_image(data, max_pixels=500_000_000)


def test_damaged_exif_still_decodes(tmp_path: Path) -> None:
    img = Image.new("RGB", (16, 8), RED)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05garbage")
    rgb = decode_image(buffer.getvalue())
    assert rgb.shape == (8, 16, 3)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"])
def test_fuzzed_files_only_ever_raise_image_error(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(noise_rgb((48, 32), seed=3)).save(buffer, fmt)
    good = buffer.getvalue()
    rng = np.random.default_rng(7)
    samples = [good[:cut] for cut in np.linspace(1, len(good) - 1, 25).astype(int)]
    for _ in range(25):
        damaged = bytearray(good)
        for pos in rng.integers(0, len(good), 8):
            damaged[int(pos)] = int(rng.integers(0, 256))
        samples.append(bytes(damaged))
    messages: list[str] = []
    for data in samples:
        try:
            rgb = decode_image(data)
        except ImageError as exc:  # anything else escaping fails the test
            messages.append(str(exc))
        else:
            assert rgb.dtype == np.uint8
            assert rgb.shape[2] == 3
    assert messages, "the damaged samples must include failures"
    assert all(m and "\n" not in m for m in messages)


def test_iter_image_files(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    (root / ".hidden").mkdir()
    for rel in ["z.png", "a/2.JPG", "a/1.jpeg", "b/c.webp", "b/notes.txt", "._junk.jpg",
                ".hidden/x.png", "b/model.onnx"]:  # fmt: skip
        (root / rel).write_bytes(b"x")
    odd = tmp_path / "scan.xyz"
    odd.write_bytes(b"x")
    missing = tmp_path / "missing.jpg"

    found = list(iter_image_files([root, odd, str(missing)]))

    assert found == [
        root / "a" / "1.jpeg",
        root / "a" / "2.JPG",
        root / "b" / "c.webp",
        root / "z.png",
        odd,
        missing,
    ]


def test_image_suffixes() -> None:
    assert {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"} == IMAGE_SUFFIXES


def test_resize_uses_area_when_shrinking_and_linear_when_enlarging() -> None:
    img = noise_rgb((64, 48), seed=5)
    small = resize_rgb(img, 16, 12)
    np.testing.assert_array_equal(small, cv2.resize(img, (16, 12), interpolation=cv2.INTER_AREA))
    # INTER_AREA averages 4x4 blocks exactly for an integer factor
    block = img[:4, :4].astype(np.float64).mean(axis=(0, 1))
    assert np.all(np.abs(small[0, 0].astype(float) - block) <= 1)

    big = resize_rgb(img, 128, 96)
    np.testing.assert_array_equal(big, cv2.resize(img, (128, 96), interpolation=cv2.INTER_LINEAR))

    mixed = resize_rgb(img, 32, 96)  # narrower but taller: enlarging in one direction
    np.testing.assert_array_equal(mixed, cv2.resize(img, (32, 96), interpolation=cv2.INTER_LINEAR))
    same = resize_rgb(img, 64, 48)
    np.testing.assert_array_equal(same, img)
    assert same is not img


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)],
)
def test_resize_rejects_non_rgb(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected"):
        resize_rgb(bad, 8, 8)
    with pytest.raises(ValueError, match="positive"):
        resize_rgb(np.zeros((4, 4, 3), np.uint8), 0, 8)


def test_encode_jpeg_thumbnail() -> None:
    data = encode_jpeg(np.full((300, 600, 3), (10, 200, 30), np.uint8))
    assert data[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        assert img.size == (160, 80)
    thumb = decode_image(data)
    assert _close(thumb[40, 80], (10, 200, 30), 6)

    small = encode_jpeg(np.zeros((20, 30, 3), np.uint8), max_side=160)
    with Image.open(io.BytesIO(small)) as img:
        assert img.size == (30, 20), "never enlarged"


def test_encode_jpeg_quality_changes_size() -> None:
    img = noise_rgb((120, 90), seed=2)
    assert len(encode_jpeg(img, quality=30)) < len(encode_jpeg(img, quality=95))


@pytest.mark.parametrize("name", TRASHNET_CLASSES)
def test_demo_samples_ship_and_decode(name: str) -> None:
    path = resources_dir() / "samples" / f"{name}.jpg"
    rgb = decode_image(path)
    assert sorted(rgb.shape[:2]) == [288, 384]
    assert rgb.std() > 10, "a real photo, not a blank image"
