"""Selfie against ID portrait (openlend.identity.face): same face scores high under everyday
changes, different faces score low, and images without exactly one face get an error code."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image, ImageEnhance

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

from openlend.identity import face

try:  # tests/identity may or may not become a package
    from .face_images import astronaut, encode, hopper, side_by_side
except ImportError:
    from face_images import astronaut, encode, hopper, side_by_side


@pytest.fixture(scope="module")
def collins() -> bytes:
    return encode(astronaut())


@pytest.fixture(scope="module")
def grace() -> bytes:
    return encode(hopper())


def test_an_image_against_itself_is_a_match_with_distance_zero(collins):
    m = face.compare(collins, collins)
    assert m.match
    assert m.distance == pytest.approx(0.0, abs=1e-9)
    assert m.score > 0.99
    assert m.threshold == face.SCORE_THRESHOLD
    assert m.distance_threshold == face.DEFAULT_DISTANCE_THRESHOLD


def _transforms(im: Image.Image) -> dict[str, bytes]:
    w, h = im.size
    low_q = io.BytesIO()
    im.save(low_q, "JPEG", quality=25)
    return {
        "crop": encode(im.crop((int(w * 0.15), 0, int(w * 0.8), int(h * 0.65)))),
        "half-size": encode(im.resize((w // 2, h // 2), Image.Resampling.BILINEAR)),
        "double-size": encode(im.resize((w * 2, h * 2), Image.Resampling.BICUBIC)),
        "brighter": encode(ImageEnhance.Brightness(im).enhance(1.4)),
        "darker": encode(ImageEnhance.Brightness(im).enhance(0.6)),
        "jpeg-q25": low_q.getvalue(),
        "rotated-8deg": encode(im.rotate(8, resample=Image.Resampling.BILINEAR, fillcolor=(128, 128, 128))),
        "png": encode(im, "PNG"),
    }


@pytest.mark.parametrize("person", ["collins", "grace"])
def test_the_same_face_after_crop_scale_brightness_and_jpeg_scores_high(person, request):
    original = request.getfixturevalue(person)
    im = astronaut() if person == "collins" else hopper()
    for name, variant in _transforms(im).items():
        m = face.compare(variant, original)
        assert m.match, (name, m)
        assert m.distance < 0.4, (name, m)      # well inside dlib's 0.6
        assert m.score > 0.85, (name, m)


def test_two_different_faces_score_low_and_do_not_match(collins, grace):
    m = face.compare(collins, grace)
    assert not m.match
    assert m.distance > face.DEFAULT_DISTANCE_THRESHOLD
    assert m.score < face.SCORE_THRESHOLD
    assert face.compare(grace, collins).distance == pytest.approx(m.distance, abs=1e-6)


def test_a_stricter_distance_threshold_moves_the_score_and_the_decision(collins):
    half = encode(astronaut().resize((256, 256)))
    default = face.compare(half, collins)
    strict = face.compare(half, collins, distance_threshold=default.distance - 0.01)
    assert default.match and not strict.match
    assert strict.score < 0.5 < default.score


def test_score_is_a_monotone_map_into_0_1_with_one_half_at_the_threshold():
    ds = np.linspace(0, 2.5, 251)
    scores = [face.score_from_distance(d) for d in ds]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(a >= b for a, b in itertools.pairwise(scores))
    assert face.score_from_distance(0.6) == pytest.approx(0.5)
    assert face.score_from_distance(0.4) == pytest.approx(0.9)
    assert face.score_from_distance(0.8) == pytest.approx(0.1)
    assert face.score_from_distance(0.5, distance_threshold=0.5) == pytest.approx(0.5)


def test_a_selfie_without_a_face_is_refused_with_no_face(collins):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
    for blank in (encode(noise), encode(Image.new("RGB", (640, 480), (200, 180, 160)))):
        with pytest.raises(face.FaceError) as err:
            face.compare(blank, collins)
        assert err.value.code == face.NO_FACE
        assert err.value.image == "selfie"


def test_a_portrait_without_a_face_is_refused_with_no_face(collins):
    with pytest.raises(face.FaceError) as err:
        face.compare(collins, encode(Image.new("RGB", (300, 400), (230, 230, 230))))
    assert (err.value.code, err.value.image) == (face.NO_FACE, "portrait")


def test_two_faces_in_the_selfie_are_refused_with_multiple_faces(collins):
    both = encode(side_by_side(astronaut(), hopper()))
    with pytest.raises(face.FaceError) as err:
        face.compare(both, collins)
    assert (err.value.code, err.value.image) == (face.MULTIPLE_FACES, "selfie")


def test_a_smaller_ghost_face_on_the_portrait_is_ignored_and_noted(collins):
    # Many ID cards print a second, smaller "ghost" copy of the portrait beside the main one.
    head = astronaut().crop((120, 30, 330, 240))
    main, ghost = head.resize((504, 504)), head.resize((231, 231))
    card = Image.new("RGB", (main.width + ghost.width + 40, main.height + 40), (235, 235, 225))
    card.paste(main, (20, 20))
    card.paste(ghost, (main.width + 30, main.height - ghost.height + 10))
    m = face.compare(collins, encode(card))
    assert m.match
    assert "portrait:secondary-face-ignored" in m.quality_notes
    # The same card as a selfie is two faces: in a selfie any second face is refused.
    with pytest.raises(face.FaceError) as err:
        face.compare(encode(card), collins)
    assert err.value.code == face.MULTIPLE_FACES


def test_a_file_that_is_not_an_image_is_refused_with_unreadable_image(collins):
    for junk in (b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40):
        with pytest.raises(face.FaceError) as err:
            face.compare(junk, collins)
        assert err.value.code == face.UNREADABLE_IMAGE


def test_exif_orientation_is_applied_before_detection(collins):
    # A phone stores the selfie sideways and says so in EXIF; the face is upright once applied.
    sideways = astronaut().rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6   # "rotate 90 degrees clockwise to display": undoes the rotate(90) above
    buf = io.BytesIO()
    sideways.save(buf, "JPEG", quality=92, exif=exif)
    m = face.compare(buf.getvalue(), collins)
    assert m.match
    assert "selfie:exif-rotated" in m.quality_notes


def test_small_faces_are_compared_but_noted():
    tiny = encode(astronaut().resize((200, 200), Image.Resampling.LANCZOS))
    m = face.compare(tiny, encode(astronaut()))
    assert "selfie:face-small" in m.quality_notes
