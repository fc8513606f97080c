"""Selfie against ID-card portrait: dlib's ResNet face embeddings, a distance and a score.

Pure: bytes in, a :class:`FaceMatch` out; no database, no network.  The model files come from the
``face_recognition_models`` wheel (site-packages), dlib itself from the ``dlib-bin`` wheel (the
``dlib`` sdist has no wheel and takes minutes to compile; see docs/design/face.md).  Nothing is
downloaded at run time.

Pipeline, for each image: decode (EXIF orientation applied) -> shrink to at most ``MAX_SIDE``
pixels -> HOG frontal-face detector -> 5-point landmarks -> aligned 150x150 chip -> 128-d ResNet
descriptor.  The Euclidean distance between descriptors is what dlib calibrated: the model was
trained so that the same person lies within 0.6, and at 0.6 it scores 99.38 % on LFW.

The score is a logistic map of that distance, ``1 / (1 + exp(SLOPE * (d - threshold)))``, so that
``score >= 0.5`` exactly when ``distance <= distance_threshold``: the score orders pairs and reads
as a confidence, the decision stays dlib's calibrated distance.  Problems that make a comparison
meaningless (no face, two faces in the selfie, an unreadable file) raise :class:`FaceError` with a
stable ``code``; they are never answered with a guess.
"""

from __future__ import annotations

import importlib.util
import io
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# dlib's operating point for dlib_face_recognition_resnet_model_v1 (distance, Euclidean, 128-d).
DEFAULT_DISTANCE_THRESHOLD = 0.6
# Score at the threshold; match <=> score >= SCORE_THRESHOLD <=> distance <= distance threshold.
SCORE_THRESHOLD = 0.5
# Logistic steepness: distance 0.4 -> 0.90, 0.5 -> 0.75, 0.6 -> 0.50, 0.7 -> 0.25, 0.8 -> 0.10.
SCORE_SLOPE = math.log(9) / 0.2

# Longest side, in pixels, an image is shrunk to before detection: detection time grows with the
# pixel count, and a face filling a phone selfie is still far above the chip's 150 px at 1024.
MAX_SIDE = 1024
# HOG detections scoring below this are not faces we trust (the detector's own cut is 0.0; on
# test images it fires at 0.1-0.2 on textures such as badges and fabric).
MIN_DETECTION_SCORE = 0.3
# A second detection counts as a face only from this score: a real face scores 1-2.5, while
# badges and patterns on clothing reach 0.3-0.5 when the image is rotated or upsampled.
SECOND_FACE_MIN_SCORE = 0.6
# A second detection this large relative to the main face makes the image "multiple-faces".  In
# the selfie any plausible second face counts (someone beside the applicant); in the ID portrait
# small secondary faces are expected (the ghost image printed on many cards) and are ignored.
SELFIE_SECOND_FACE_MIN_RATIO = 0.25
PORTRAIT_SECOND_FACE_MIN_RATIO = 0.6
# Below this face width (pixels, in the image as given) the chip is upsampled: noted, not refused.
SMALL_FACE_PX = 80
CHIP_SIZE = 150
CHIP_PADDING = 0.25

# Error codes (stable; clients branch on them).
UNREADABLE_IMAGE = "unreadable-image"
NO_FACE = "no-face"
MULTIPLE_FACES = "multiple-faces"


class FaceError(ValueError):
    """A comparison that cannot be made; ``code`` is stable, ``image`` says which input."""

    def __init__(self, code: str, image: str, detail: str):
        super().__init__(f"{image}: {code}: {detail}")
        self.code = code
        self.image = image
        self.detail = detail


@dataclass(frozen=True)
class FaceMatch:
    score: float                 # in [0, 1]; >= threshold means the same person
    distance: float              # Euclidean distance between the two 128-d descriptors
    threshold: float             # the score threshold: always 0.5, the score at distance_threshold
    match: bool
    distance_threshold: float    # the distance the decision was taken at
    quality_notes: tuple[str, ...] = ()   # e.g. "selfie:face-small", "portrait:blurry"


# ---------------------------------------------------------------------------------------------
# Models: loaded once per process, from the face_recognition_models wheel.


def model_path(name: str) -> str:
    """A model file of the face_recognition_models wheel, found without importing the package
    (its __init__ imports pkg_resources, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face_recognition_models is not installed (pip install face_recognition_models)")
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise RuntimeError(f"face_recognition_models has no {name}")
    return str(path)


@lru_cache(maxsize=1)
def _models():
    import dlib

    return {
        "detector": dlib.get_frontal_face_detector(),
        "sp5": dlib.shape_predictor(model_path("shape_predictor_5_face_landmarks.dat")),
        "resnet": dlib.face_recognition_model_v1(model_path("dlib_face_recognition_resnet_model_v1.dat")),
    }


@lru_cache(maxsize=1)
def _landmarks68():
    import dlib

    return dlib.shape_predictor(model_path("shape_predictor_68_face_landmarks.dat"))


# dlib's objects release the GIL and are safe to share for reading, but the detector and the DNN
# keep scratch buffers; one lock per process keeps concurrent callers from sharing them.
_lock = threading.Lock()


def warm_up() -> None:
    """Load the models now (about 1 s) rather than on the first comparison."""
    _models()


# ---------------------------------------------------------------------------------------------
# Images


def decode_image(data: bytes, image: str = "image", max_side: int = MAX_SIDE) -> tuple[np.ndarray, float, tuple[str, ...]]:
    """Encoded bytes -> (RGB uint8 array, scale applied, notes).  EXIF orientation is applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    notes: list[str] = []
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format == "JPEG":   # decode a 12 MP phone photo at 1/2-1/8 scale: 5-10x faster
                im.draft("RGB", (max_side, max_side))
            im.load()
            if im.getexif().get(0x0112, 1) != 1:
                notes.append("exif-rotated")
            im = ImageOps.exif_transpose(im)
            rgb = im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, TypeError) as exc:
        raise FaceError(UNREADABLE_IMAGE, image, f"not a readable image ({type(exc).__name__})") from None
    w, h = rgb.size
    scale = 1.0
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        rgb = rgb.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), scale, tuple(notes)


def detect_faces(rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """All HOG detections scoring at least MIN_DETECTION_SCORE, largest first.

    The image is searched as it is first; only when nothing is found is it upsampled (once, or
    twice for a very small image such as a cropped ID portrait), because the HOG window is 80 px
    and upsampling also multiplies false detections on textures.
    """
    det = _models()["detector"]
    side = max(rgb.shape[:2])
    found: list[tuple[tuple[int, int, int, int], float]] = []
    for upsample in (0, 1, 2):
        if upsample and side * (2 ** upsample) > 2 * MAX_SIDE:
            break
        with _lock:
            rects, scores, _ = det.run(rgb, upsample, 0.0)
        found = [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)
                 if s >= MIN_DETECTION_SCORE]
        if found:
            break
    found.sort(key=lambda bs: -(bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]))
    return found


def _one_face(rgb: np.ndarray, image: str, second_face_ratio: float) -> tuple[tuple[int, int, int, int], float, list[str]]:
    faces = detect_faces(rgb)
    if not faces:
        raise FaceError(NO_FACE, image, "no face found")
    (box, score), rest = faces[0], faces[1:]
    width = box[2] - box[0]
    notes: list[str] = []
    others = [b for b, sc in rest if (b[2] - b[0]) >= second_face_ratio * width and sc >= SECOND_FACE_MIN_SCORE]
    if others:
        raise FaceError(MULTIPLE_FACES, image, f"{len(others) + 1} faces found; exactly one is needed")
    if rest:
        notes.append("secondary-face-ignored")
    if score < 0.8:
        notes.append("low-detection-confidence")
    return box, score, notes


def _dlib_rect(box):
    import dlib

    return dlib.rectangle(*box)


def _chip_quality(chip: np.ndarray) -> list[str]:
    """Cheap quality flags on the aligned chip: they inform a reviewer, they do not decide."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    notes = []
    mean = float(grey.mean())
    if mean < 60:
        notes.append("dark")
    elif mean > 200:
        notes.append("overexposed")
    if float(grey.std()) < 25:
        notes.append("low-contrast")
    lap = (grey[1:-1, 1:-1] * 4 - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])
    if float(lap.var()) < 40:
        notes.append("blurry")
    return notes


def face_descriptor(data: bytes, image: str = "image", *, second_face_ratio: float = SELFIE_SECOND_FACE_MIN_RATIO) -> tuple[np.ndarray, tuple[str, ...]]:
    """The 128-d descriptor of the one face in ``data``, with quality notes.  Raises FaceError."""
    import dlib

    rgb, scale, notes = decode_image(data, image)
    box, _score, face_notes = _one_face(rgb, image, second_face_ratio)
    notes = list(notes) + face_notes
    if (box[2] - box[0]) / scale < SMALL_FACE_PX:
        notes.append("face-small")
    m = _models()
    with _lock:
        shape = m["sp5"](rgb, _dlib_rect(box))
        chip = np.asarray(dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING))
        desc = np.asarray(m["resnet"].compute_face_descriptor(chip), dtype=np.float64)
    notes += _chip_quality(chip)
    return desc, tuple(notes)


def score_from_distance(distance: float, distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD) -> float:
    """Logistic map of the descriptor distance to [0, 1]; exactly 0.5 at ``distance_threshold``."""
    z = SCORE_SLOPE * (distance - distance_threshold)
    if z > 50:
        return 0.0
    return 1.0 / (1.0 + math.exp(z))


def compare(selfie_bytes: bytes, portrait_bytes: bytes, *,
            distance_threshold: float = DEFAULT_DISTANCE_THRESHOLD) -> FaceMatch:
    """Is the face in the selfie the face on the ID card portrait?

    Raises :class:`FaceError` (``unreadable-image``, ``no-face``, ``multiple-faces``) rather than
    guess.  ``distance_threshold`` lower than 0.6 is stricter (fewer false accepts, more false
    rejects); dlib publishes figures only for 0.6 (docs/design/face.md).
    """
    selfie, selfie_notes = face_descriptor(selfie_bytes, "selfie",
                                           second_face_ratio=SELFIE_SECOND_FACE_MIN_RATIO)
    portrait, portrait_notes = face_descriptor(portrait_bytes, "portrait",
                                               second_face_ratio=PORTRAIT_SECOND_FACE_MIN_RATIO)
    distance = float(np.linalg.norm(selfie - portrait))
    score = score_from_distance(distance, distance_threshold)
    notes = tuple(f"selfie:{n}" for n in selfie_notes) + tuple(f"portrait:{n}" for n in portrait_notes)
    return FaceMatch(
        score=round(score, 6),
        distance=round(distance, 6),
        threshold=SCORE_THRESHOLD,
        match=distance <= distance_threshold,
        distance_threshold=distance_threshold,
        quality_notes=notes,
    )
