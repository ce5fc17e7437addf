"""Build station videos from real photos: empty background, item held still, empty again.

Used by the end-to-end tests and the live-pipeline benchmark, and runnable by hand::

    python -m tests.video_factory OUT.avi resources/samples/*.jpg --fps 15
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = (640, 480)


def empty_scene(size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> np.ndarray:
    """A plain light backdrop like TrashNet's, with a little sensor noise (BGR)."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = np.full((h, w, 3), (214, 220, 224), np.float32)
    base += np.linspace(-10, 10, w, dtype=np.float32)[None, :, None]
    base += rng.normal(0, 2.0, (h, w, 3)).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


def item_frame(photo_bgr: np.ndarray, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The photo filling the frame, as when an operator holds the item to the camera."""
    return cv2.resize(photo_bgr, size, interpolation=cv2.INTER_AREA)


def write_station_video(
    out: Path,
    photos: Sequence[Path],
    *,
    fps: float = 15.0,
    empty_s: float = 1.5,
    hold_s: float = 2.0,
    size: tuple[int, int] = FRAME_SIZE,
) -> Path:
    """Empty, then each photo held for ``hold_s`` with empty scenes between; MJPG in AVI."""
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"cannot write video {out}")
    rng = np.random.default_rng(1)
    background = empty_scene(size)
    try:
        for photo in [None, *photos]:
            if photo is not None:
                image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
                if image is None:
                    raise RuntimeError(f"cannot read {photo}")
                held = item_frame(image, size)
                for _ in range(round(hold_s * fps)):
                    noise = rng.normal(0, 1.5, held.shape).astype(np.int16)
                    writer.write(np.clip(held.astype(np.int16) + noise, 0, 255).astype(np.uint8))
            for _ in range(round(empty_s * fps)):
                noise = rng.normal(0, 1.5, background.shape).astype(np.int16)
                writer.write(np.clip(background.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--hold", type=float, default=2.0, help="seconds each item is held")
    parser.add_argument("--empty", type=float, default=1.5, help="seconds of empty scene between")
    args = parser.parse_args()
    write_station_video(args.out, args.photos, fps=args.fps, hold_s=args.hold, empty_s=args.empty)


if __name__ == "__main__":
    main()
