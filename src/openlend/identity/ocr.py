"""The OCR engine behind one small interface: an image in, text lines with scores and boxes out.

The engine is RapidOCR 3 on onnxruntime with the PP-OCRv6 "small" detection and recognition
models and the PP-OCR mobile direction classifier. All three ship inside the `rapidocr` wheel;
they are loaded by explicit path so that RapidOCR's download code is never reached (the machines
that run openlend reach no model hub). Recognition covers simplified Chinese, digits and Latin.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The model files the `rapidocr` wheel ships (3.10.0); a new release may rename them, which is
# why pyproject pins the version.
DET_MODEL = "PP-OCRv6_det_small.onnx"
REC_MODEL = "PP-OCRv6_rec_small.onnx"
CLS_MODEL = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"

# A card fills most of a phone picture; its longest side scaled to this many pixels keeps the
# number's digits about 25 px high, which the recogniser reads well, at a third of the
# detector's cost at RapidOCR's default (shortest side scaled *up* to 736).
DET_LONGEST_SIDE = 736
MAX_INPUT_PIXELS = 40_000_000  # a decompression bomb is refused before it is decoded


class InvalidImage(ValueError):
    """The bytes are not an image Pillow can read."""


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float  # the recogniser's mean character probability, 0..1
    box: tuple[tuple[float, float], ...]  # four corners in image pixels, clockwise
    # (piece, score) in reading order: one piece per CJK character, one per run of digits or
    # Latin letters; lets a field's confidence leave out the label printed in the same line
    pieces: tuple[tuple[str, float], ...] = ()


class OcrEngine(Protocol):
    def read(self, image: np.ndarray) -> list[TextLine]:
        """Text lines in an RGB image (H x W x 3, uint8)."""
        ...


def decode_image(data: bytes) -> np.ndarray:
    """Bytes of a JPEG/PNG/WebP/... into an upright RGB array (EXIF orientation applied)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_INPUT_PIXELS:
                raise InvalidImage(f"image of {img.width}x{img.height} pixels is too large")
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidImage(str(exc)) from exc


class RapidOcrEngine:
    """RapidOCR with the models bundled in its wheel. Loading takes about a second: share one."""

    def __init__(
        self, *, threads: int | None = None, det_longest_side: int = DET_LONGEST_SIDE
    ):
        import rapidocr
        from rapidocr import RapidOCR  # imported here: it loads onnxruntime and OpenCV

        models = Path(rapidocr.__file__).parent / "models"
        paths = {name: models / name for name in (DET_MODEL, REC_MODEL, CLS_MODEL)}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise RuntimeError(f"OCR models missing from the rapidocr wheel: {missing}")
        # One thread per read by default: measured on the 2-core box, a second intra-op thread
        # made a card slower (1.2 s against 0.67 s) whenever anything else wanted the cores, and a
        # server reads cards side by side in its worker threads anyway.
        if threads is None:
            threads = int(os.environ.get("OPENLEND_OCR_THREADS", "1"))
        params = {
            "Global.log_level": "warning",
            "Global.model_root_dir": str(models),
            "Det.model_path": str(paths[DET_MODEL]),
            "Rec.model_path": str(paths[REC_MODEL]),
            "Cls.model_path": str(paths[CLS_MODEL]),
            "Det.limit_type": "max",
            "Det.limit_side_len": det_longest_side,
        }
        if threads > 0:  # 0: let onnxruntime take every core
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        self._ocr = RapidOCR(params=params)
        # RapidOCR loads each model on first use; load all three now so that a broken install
        # fails here, at start-up, and the first card read is not the slow one.
        for load in ("_load_det_model", "_load_cls_model", "_load_rec_model"):
            getattr(self._ocr, load)()

    def read(self, image: np.ndarray) -> list[TextLine]:
        bgr = np.ascontiguousarray(image[:, :, ::-1])  # RapidOCR works in OpenCV's BGR
        out = self._ocr(bgr, return_word_box=True)
        if out.boxes is None or out.txts is None:
            return []
        words = out.word_results if len(out.word_results) == len(out.txts) else [()] * len(out.txts)
        lines = []
        for b, t, s, w in zip(out.boxes, out.txts, out.scores, words):
            pieces = tuple((str(p[0]), float(p[1])) for p in (w or ()))
            if "".join(p for p, _ in pieces) != "".join(t.split()):
                pieces = ((t, float(s)),)  # not aligned with the text: one piece, the line's score
            box = tuple((float(x), float(y)) for x, y in b)
            lines.append(TextLine(text=t, score=float(s), box=box, pieces=pieces))
        return lines


@lru_cache(maxsize=1)
def default_engine() -> RapidOcrEngine:
    """One engine per process; onnxruntime sessions are safe to call from several threads."""
    return RapidOcrEngine()
