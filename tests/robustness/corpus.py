"""Hostile and malformed image files: the corpus the robustness suite feeds to the app.

``build_corpus(dest)`` writes 500+ files derived from the real TrashNet samples in
``resources/samples`` (re-encoded as JPEG, progressive JPEG, PNG, lossy/lossless WebP,
raw/LZW TIFF, GIF and BMP) and hand-built headers:

* truncations of every format at many offsets, bit flips, overwritten blocks;
* huge declared dimensions (PNG IHDR, JPEG SOF, GIF logical screen, BMP, TIFF, WebP VP8X);
* zero-size files, wrong extensions, non-images with image extensions;
* many-IFD, looping and deeply nested TIFFs, EXIF IFD cycles;
* animated GIF / WebP / APNG (also with 10^5 frames, or claiming 2^31), a legal
  49-megapixel PNG (grey, RGBA, 16-bit), huge canvases, chunk and sub-block bombs;
* PostScript named .jpg (Pillow alone would run Ghostscript on it);
* paths with spaces, non-ASCII and undecodable bytes; FIFOs, symlink loops, folders.

Every file carries an expectation: ``"error"`` (must be refused with one clear line),
``"ok"`` (must classify) or ``"any"`` (either, but cleanly). The byte-level builders live in
:mod:`tests.robustness.hostile_bytes`. ``manifest.json`` records them
(JSON, never pickle)::

    python -m tests.robustness.corpus OUT_DIR [--fast]
"""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tests.robustness.hostile_bytes import (
    LONG,
    animated,
    animated_gif,
    apng_many_frames,
    bit_flipped,
    block_overwritten,
    bmp_with_header,
    dos_eps_file,
    encode,
    eps_file,
    gif_canvas,
    gif_comment_blocks,
    gif_many_frames,
    gif_with_size,
    jpeg_with_exif_cycle,
    jpeg_with_size,
    large_legal_png,
    png_many_chunks,
    png_with_chunk_bomb,
    png_with_size,
    tail_is_trailer,
    tiff_chain,
    tiff_nested,
    truncation_offsets,
    webp_animation_canvas,
    webp_with_canvas,
    zero_png,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "resources" / "samples"
BASE_SIZE = (160, 120)  # small: hundreds of decodes must stay fast
BITFLIPS_PER_BASE = 18
BLOCKS_PER_BASE = 4
EXPECTATIONS = ("error", "ok", "any")
FAST_TARGET = 60


@dataclass(frozen=True)
class CorpusFile:
    """One corpus entry; ``path`` is absolute."""

    path: Path
    family: str
    expect: str  # "error" | "ok" | "any"
    note: str = ""

    def to_json(self) -> dict[str, str]:
        data = asdict(self)
        data["path"] = os.fsencode(self.path).decode("utf-8", "backslashreplace")
        return data


# --------------------------------------------------------------------------- base images


def _sample_rgb(index: int = 0) -> np.ndarray:
    """A real TrashNet photo (from resources/samples) at BASE_SIZE, RGB."""
    photos = sorted(SAMPLES.glob("*.jpg"))
    if not photos:
        rng = np.random.default_rng(index)
        return rng.integers(0, 256, (BASE_SIZE[1], BASE_SIZE[0], 3), dtype=np.uint8)
    with Image.open(photos[index % len(photos)]) as img:
        return np.asarray(img.convert("RGB").resize(BASE_SIZE, Image.Resampling.BILINEAR))


def base_files() -> dict[str, tuple[bytes, str]]:
    """Valid encodings of real photos: name -> (bytes, suffix)."""
    rgb = _sample_rgb(0)
    photos = sorted(SAMPLES.glob("*.jpg"))
    camera_jpeg = photos[0].read_bytes() if photos else encode(rgb, "JPEG", quality=90)
    gif = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    gif_buffer = io.BytesIO()
    gif.save(gif_buffer, "GIF")
    return {
        "jpeg": (camera_jpeg, ".jpg"),  # the 512x384 photo exactly as TrashNet ships it
        "jpeg-progressive": (encode(rgb, "JPEG", quality=85, progressive=True), ".jpg"),
        "png": (encode(rgb, "PNG"), ".png"),
        "webp-lossy": (encode(rgb, "WEBP", quality=80), ".webp"),
        "webp-lossless": (encode(rgb, "WEBP", lossless=True), ".webp"),
        "tiff-raw": (encode(rgb, "TIFF"), ".tif"),
        "tiff-lzw": (encode(rgb, "TIFF", compression="tiff_lzw"), ".tiff"),
        "gif": (gif_buffer.getvalue(), ".gif"),
        "bmp": (encode(rgb, "BMP"), ".bmp"),
    }


NON_IMAGES: dict[str, tuple[bytes, str]] = {
    "text": (b"Shopping list:\n- milk\n- eggs\n", ".jpg"),
    "html": (b"<!DOCTYPE html><html><body>404</body></html>\n", ".png"),
    "svg": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', ".png"),
    "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", ".jpg"),
    "zip": (b"PK\x03\x04" + b"\x00" * 60, ".webp"),
    "elf": (b"\x7fELF\x02\x01\x01" + b"\x00" * 120, ".gif"),
    "json": (b'{"label": "glass"}\n', ".tiff"),
    "sqlite": (b"SQLite format 3\x00" + b"\x00" * 84, ".bmp"),
    "zeros": (b"\x00" * 4096, ".jpg"),
    "ones": (b"\xff" * 4096, ".png"),
    "random": (np.random.default_rng(5).bytes(8192), ".jpeg"),
    "magic-only-jpeg": (b"\xff\xd8\xff", ".jpg"),
    "magic-only-png": (b"\x89PNG\r\n\x1a\n", ".png"),
    "utf16-bom": ("hello".encode("utf-16"), ".tif"),
}

# Directory and file names that have broken other programs' quoting or decoding.
AWKWARD_NAMES = (
    "dir with spaces/photo one.jpg",
    "ünïcödé/fòtò çàfé.png",
    "中文目录/照片.webp",
    "emoji 😀/🗑️ bin.gif",
    "русский/фото.bmp",
    "quotes/it's \"quoted\".tiff",
    "leading-dash/-rf.jpg",
    "semicolon;and&amp/x;y.png",
    "  spaced  /  padded  .jpg",
    "decomposed/cafe\u0301.png",  # NFD: e + combining acute
    "very" + "/deep" * 20 + "/file.jpg",
    "dots/..hidden..jpg",
)


# --------------------------------------------------------------------------- the corpus


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[CorpusFile] = []

    def add(self, rel: str | Path, data: bytes, family: str, expect: str, note: str = "") -> Path:
        assert expect in EXPECTATIONS
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(CorpusFile(path, family, expect, note))
        return path

    def add_special(self, rel: str, make: Callable[[Path], None], family: str, expect: str,
                    note: str = "") -> None:  # fmt: skip
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            make(path)
        except (OSError, NotImplementedError):  # e.g. no FIFOs on this platform
            return
        self.files.append(CorpusFile(path, family, expect, note))


def build_corpus(dest: Path) -> list[CorpusFile]:
    """Write the whole corpus under ``dest`` (created) and return its entries."""
    dest.mkdir(parents=True, exist_ok=True)
    w = _Writer(dest)
    bases = base_files()
    rgb = _sample_rgb(1)
    for name, (data, suffix) in bases.items():
        w.add(f"valid/{name}{suffix}", data, "valid", "ok", "reference encoding")
        for cut in truncation_offsets(len(data)):
            trailer = tail_is_trailer(name, cut, len(data))
            w.add(f"truncated/{name}-{cut:06d}{suffix}", data[:cut], f"truncated-{name}",
                  "any" if trailer else "error", f"first {cut} of {len(data)} bytes")  # fmt: skip
        for seed in range(BITFLIPS_PER_BASE):
            w.add(f"bitflip/{name}-{seed:02d}{suffix}", bit_flipped(data, seed),
                  f"bitflip-{name}", "any", "header" if seed % 2 == 0 else "anywhere")  # fmt: skip
        for seed in range(BLOCKS_PER_BASE):
            w.add(f"block/{name}-{seed}{suffix}", block_overwritten(data, seed),
                  f"block-{name}", "any")  # fmt: skip

    png, jpeg = bases["png"][0], bases["jpeg"][0]
    gif, bmp, webp = bases["gif"][0], bases["bmp"][0], bases["webp-lossy"][0]
    huge = "huge-dimensions"
    for width, height in ((100_000, 100_000), (65_535, 65_535), (2**31 - 1, 1), (1, 2**31 - 1),
                          (7072, 7072), (0, 0), (0, 120), (2**32 - 1, 2**32 - 1)):  # fmt: skip
        w.add(f"huge/png-ihdr-{width}x{height}.png", png_with_size(png, width, height), huge,
              "error", "PNG IHDR")  # fmt: skip
    for width, height in ((65_535, 65_535), (65_500, 1000), (8000, 6000), (0, 384), (512, 0)):
        expect = "error"
        w.add(f"huge/jpeg-sof-{width}x{height}.jpg", jpeg_with_size(jpeg, width, height), huge,
              expect, "JPEG SOF")  # fmt: skip
    for width, height in ((65_535, 65_535), (65_535, 1), (0, 0)):
        w.add(f"huge/gif-screen-{width}x{height}.gif", gif_with_size(gif, width, height), huge,
              "any" if 0 in (width, height) or width * height < 50_000_000 else "error",
              "GIF logical screen + image descriptor")  # fmt: skip
    for label, kwargs in (("w100000-h100000", {"width": 100_000, "height": 100_000}),
                          ("h-min-int", {"height": -(2**31)}), ("w-negative", {"width": -160}),
                          ("w0", {"width": 0}), ("bpp0", {"bpp": 0}), ("bpp7", {"bpp": 7}),
                          ("w2e9", {"width": 2_000_000_000})):  # fmt: skip
        expect = "error"
        w.add(f"huge/bmp-{label}.bmp", bmp_with_header(bmp, **kwargs), huge, expect, "BMP header")
    for side in (16_777_216, 65_536):
        w.add(f"huge/webp-vp8x-{side}.webp", webp_with_canvas(webp, side, side), huge, "error",
              "WebP VP8X canvas")  # fmt: skip
    for width, height in ((100_000, 100_000), (2**32 - 1, 1), (1, 2**32 - 1)):
        w.add(f"huge/tiff-{width}x{height}.tif", tiff_chain(1, width=width, height=height),
              huge, "error", "TIFF ImageWidth/ImageLength")  # fmt: skip
    w.add("huge/tiff-strip-4gb.tif", tiff_chain(1, byte_count=2**32 - 1), huge, "any",
          "StripByteCounts claims 4 GB")  # fmt: skip

    for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"):
        w.add(f"empty/empty{suffix}", b"", "zero-size", "error")

    swaps = {".jpg": (".png", ".gif"), ".png": (".jpg", ".bmp"), ".webp": (".jpg", ".tif"),
             ".tif": (".png", ".jpg"), ".tiff": (".gif", ".webp"), ".gif": (".png", ".jpeg"),
             ".bmp": (".jpg", ".webp")}  # fmt: skip
    for name, (data, suffix) in bases.items():
        for wrong in swaps[suffix]:
            w.add(f"wrong-ext/{name}-as{wrong}", data, "wrong-extension", "ok",
                  f"{name} named {wrong}")  # fmt: skip
    for name, (data, suffix) in NON_IMAGES.items():
        w.add(f"not-image/{name}{suffix}", data, "not-an-image", "error")
    # PostScript named .jpg: Pillow alone would hand it to Ghostscript
    w.add("not-image/eps-as.jpg", eps_file(), "not-an-image", "error", "EPS, an interpreter")
    w.add("not-image/dos-eps-as.jpg", dos_eps_file(), "not-an-image", "error", "DOS EPS")

    tiff = "tiff-structure"
    w.add("tiff/chain-5000-ifds.tif", tiff_chain(5000), tiff, "ok", "5000 chained IFDs")
    w.add("tiff/loop-self.tif", tiff_chain(1, loop_to=0), tiff, "any", "IFD0 -> IFD0")
    w.add("tiff/loop-100.tif", tiff_chain(100, loop_to=3), tiff, "any", "IFD99 -> IFD3")
    w.add("tiff/subifd-depth-2000.tif", tiff_nested(2000, 330), tiff, "any", "SubIFD chain")
    w.add("tiff/exif-ifd-depth-500.tif", tiff_nested(500, 34665), tiff, "any", "EXIF IFD chain")
    w.add("tiff/exif-self.tif", tiff_chain(1, extra=[(34665, LONG, 72)]), tiff, "any",
          "EXIF IFD pointer cycle")  # fmt: skip
    w.add("tiff/many-frames-1x1.tif", tiff_chain(2000, width=1, height=1), tiff, "ok")
    w.add("exif/jpeg-exif-cycle.jpg", jpeg_with_exif_cycle(rgb), "exif", "any",
          "orientation 6, EXIF/GPS IFD -> IFD0")  # fmt: skip

    anim = "animated"
    gif300 = animated_gif(300)
    w.add("animated/gif-300-frames.gif", gif300, anim, "ok")
    w.add("animated/gif-2-frames.gif", animated_gif(2), anim, "ok")
    w.add("animated/webp-40-frames.webp", animated("WEBP", 40), anim, "ok")
    w.add("animated/apng-30-frames.png", animated("PNG", 30), anim, "ok")
    w.add("animated/gif-300-cut-late.gif", gif300[: len(gif300) * 3 // 4], anim, "any",
          "first frames intact, later frames cut")  # fmt: skip
    webp_anim = animated("WEBP", 40)
    w.add("animated/webp-40-cut-late.webp", webp_anim[: len(webp_anim) * 3 // 4], anim, "any")
    w.add("animated/gif-100000-frames.gif", gif_many_frames(100_000), anim, "ok")
    w.add("animated/apng-20000-frames.png", apng_many_frames(20_000), anim, "ok")
    w.add("animated/apng-claims-2g-frames.png", apng_many_frames(2, claimed=2**31 - 1), anim,
          "ok", "acTL claims 2**31 - 1 frames")  # fmt: skip
    w.add("animated/gif-comment-200000-blocks.gif", gif_comment_blocks(200_000), anim, "error",
          "~40 bytes of memory per byte of file in Pillow")  # fmt: skip

    bombs = "bombs"
    w.add("bombs/png-49-megapixel-zeros.png", large_legal_png(), bombs, "ok",
          "legal size, ~150 MB decoded")  # fmt: skip
    w.add("bombs/png-ztxt-64mb.png", png_with_chunk_bomb(png, b"zTXt"), bombs, "any")
    w.add("bombs/png-iccp-64mb.png", png_with_chunk_bomb(png, b"iCCP"), bombs, "any")
    w.add("bombs/png-rgba-7000-zeros.png", zero_png(7000, 7000), bombs, "ok",
          "190 KB, 196 MB decoded; comes back 3500 x 3500")  # fmt: skip
    w.add("bombs/png-grey16-7000-zeros.png", zero_png(7000, 7000, bit_depth=16, colour_type=0),
          bombs, "ok", "16-bit grey, 98 MB decoded")  # fmt: skip
    w.add("bombs/gif-canvas-7000.gif", gif_canvas(7000, 7000), bombs, "ok",
          "a 1 x 1 frame on a 7000 x 7000 logical screen")  # fmt: skip
    w.add("bombs/webp-canvas-7000.webp", webp_animation_canvas(7000, 7000), bombs, "error",
          "libwebp keeps the 196 MB canvas twice, Pillow a third copy")  # fmt: skip
    w.add("bombs/png-200000-chunks.png", png_many_chunks(200_000), bombs, "error",
          "each chunk handled in Python")  # fmt: skip
    w.add("bombs/jpeg-8-megabytes-of-junk.jpg", b"\xff\xd8" + b"\x00" * (8 * 2**20), bombs,
          "error", "SOI then 8 MB of zeros (decoders skip junk byte by byte)")  # fmt: skip

    names = "awkward-path"
    kinds = list(bases.values())
    for i, rel in enumerate(AWKWARD_NAMES):
        data, _ = kinds[i % len(kinds)]
        w.add(rel, data, names, "ok")
        stem, _, suffix = rel.rpartition(".")
        w.add(f"{stem} (cut).{suffix}", data[: len(data) // 3], names, "error")
    raw = os.fsdecode(b"latin1-name/caf\xe9 \xff.jpg")  # not valid UTF-8: surrogate-escaped
    w.add(raw, jpeg, names, "ok", "undecodable file name bytes")
    w.add(os.fsdecode(b"latin1-name/bad \xe9.png"), png[:100], names, "error")

    special = "special-file"
    w.add_special("special/fifo.jpg", lambda p: os.mkfifo(p), special, "error", "named pipe")
    w.add_special("special/dangling.jpg", lambda p: p.symlink_to(p.with_name("nowhere.jpg")),
                  special, "error", "dangling symlink")  # fmt: skip

    def loop(p: Path) -> None:
        p.with_name("loop-b.png").symlink_to(p)
        p.symlink_to(p.with_name("loop-b.png"))

    w.add_special("special/loop-a.png", loop, special, "error", "symlink loop")
    w.add_special("special/dev-zero.jpg", lambda p: p.symlink_to("/dev/zero"), special, "error")
    w.add_special("special/folder.jpg", lambda p: p.mkdir(), special, "error", "a folder")

    manifest = {"count": len(w.files), "files": [f.to_json() for f in w.files]}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return w.files


def fast_subset(files: list[CorpusFile], target: int = FAST_TARGET) -> list[CorpusFile]:
    """About ``target`` files covering every family (the cheap ones; for ``make test``)."""
    by_family: dict[str, list[CorpusFile]] = {}
    for item in files:
        if item.family == "bombs" and item.expect == "ok":
            continue  # the 49 MP decode takes a second: stress only
        by_family.setdefault(item.family, []).append(item)
    chosen: list[CorpusFile] = []
    for group in by_family.values():
        chosen.append(group[0])
    rest = [f for f in files if f not in chosen and f.family in by_family]
    step = max(1, len(rest) // max(1, target - len(chosen)))
    chosen += rest[::step][: max(0, target - len(chosen))]
    return chosen


def summarise(files: list[CorpusFile]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in files:
        counts[item.family] = counts.get(item.family, 0) + 1
    return dict(sorted(counts.items()))


def iter_expect(files: list[CorpusFile], expect: str) -> Iterator[CorpusFile]:
    return (f for f in files if f.expect == expect)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--fast", action="store_true", help="print the fast subset only")
    args = parser.parse_args(argv)
    files = build_corpus(args.out)
    shown = fast_subset(files) if args.fast else files
    for family, n in summarise(shown).items():
        print(f"{n:5d}  {family}")
    print(f"{len(shown):5d}  total in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
