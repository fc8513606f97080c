"""Test images for the face tests, all derived at test time from the two public-domain portraits
in face_data/ (see face_data/PROVENANCE.md).  Nothing here is a real applicant's data."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "face_data"


def load(name: str) -> Image.Image:
    with Image.open(DATA / name) as im:
        return im.convert("RGB")


def astronaut() -> Image.Image:
    return load("astronaut.jpg")


def hopper() -> Image.Image:
    return load("grace_hopper.jpg")


def encode(im: Image.Image | np.ndarray, fmt: str = "JPEG", **kw) -> bytes:
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    buf = io.BytesIO()
    if fmt == "JPEG":
        kw.setdefault("quality", 92)
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), (128, 128, 128))
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    return out


def close_eyes(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Closed eyes: skin from just above each eye blended over it, and a dark lid line.  (Sized
    on the astronaut at 1024 px: a larger patch makes the landmark model lose the eye.)"""
    out = img.astype(np.float64).copy()
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    for eye in (pts[36:42], pts[42:48]):
        x0, x1 = eye[:, 0].min(), eye[:, 0].max()
        cx, cy = (x0 + x1) / 2, eye[:, 1].mean()
        ew, eh = (x1 - x0) * 0.75, max(eye[:, 1].max() - eye[:, 1].min(), 4) * 1.4
        mask = np.clip(2.0 - np.sqrt(((xx - cx) / ew) ** 2 + ((yy - cy) / eh) ** 2) * 2.0, 0, 1)
        above = np.roll(img, round(eh * 1.6), axis=0).astype(np.float64)
        out = out * (1 - mask[..., None]) + above * mask[..., None]
        lid = (np.abs(yy - (cy + eh * 0.25)) < 2) & (np.abs(xx - cx) < ew * 0.85)
        out[lid] = out[lid] * 0.3 + 40 * 0.7
    return np.clip(out, 0, 255).astype(np.uint8)


def turn_head(img: np.ndarray, pts: np.ndarray, fraction: float) -> np.ndarray:
    """A crude 3-D turn: the middle of the face (nose, eyes, mouth) slides sideways by
    ``fraction`` of the face width while the jaw line stays; positive moves it to image right."""
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = pts[30]
    sx = (pts[16, 0] - pts[0, 0]) * 0.35
    sy = (pts[8, 1] - pts[19, 1]) * 0.45
    dx = fraction * (pts[16, 0] - pts[0, 0]) * np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)
    src = np.clip(np.round(xx - dx), 0, w - 1).astype(int)
    return np.ascontiguousarray(img[yy.astype(int), src])


def flat_photo_turned(img: np.ndarray, k: float) -> np.ndarray:
    """A printed photo turned about its vertical axis: the whole picture narrows to ``k``."""
    im = Image.fromarray(img)
    w, h = im.size
    out = Image.new("RGB", (w, h), (90, 90, 90))
    out.paste(im.resize((max(1, int(w * k)), h), Image.Resampling.LANCZOS), ((w - int(w * k)) // 2, 0))
    return np.asarray(out)


def flat_photo_tilted(img: np.ndarray, k: float) -> np.ndarray:
    """A printed photo tilted back about its horizontal axis: the picture shortens to ``k``,
    which squashes the eyes as a blink would."""
    im = Image.fromarray(img)
    w, h = im.size
    out = Image.new("RGB", (w, h), (90, 90, 90))
    out.paste(im.resize((w, max(1, int(h * k))), Image.Resampling.LANCZOS), (0, (h - int(h * k)) // 2))
    return np.asarray(out)
