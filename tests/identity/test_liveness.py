"""Active liveness (openlend.identity.liveness): a blink or a head turn performed across frames
passes; a printed photo held still, moved, turned or tilted as a whole does not."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("face_recognition_models")

from openlend.identity import face, liveness

try:  # tests/identity may or may not become a package
    from .face_images import (
        astronaut,
        close_eyes,
        encode,
        flat_photo_tilted,
        flat_photo_turned,
        hopper,
        side_by_side,
        turn_head,
    )
except ImportError:
    from face_images import (
        astronaut,
        close_eyes,
        encode,
        flat_photo_tilted,
        flat_photo_turned,
        hopper,
        side_by_side,
        turn_head,
    )


@pytest.fixture(scope="module")
def subject():
    """The astronaut at 2x (a face of about 180 px, as in a phone's front camera), with landmarks."""
    img = np.asarray(astronaut().resize((1024, 1024)))
    box = face.detect_faces(img)[0][0]
    return img, liveness.landmarks(img, box)


def _shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The hand holding the camera (or the photo) moves a little between frames."""
    return np.ascontiguousarray(np.roll(np.roll(img, dy, axis=0), dx, axis=1))


def _frames(images) -> list[bytes]:
    return [encode(im, quality=88) for im in images]


def test_a_blink_open_closed_open_passes(subject):
    img, pts = subject
    closed = close_eyes(img, pts)
    seq = [img, _shift(img, 3, 1), closed, _shift(img, -2, 2), img]
    r = liveness.check_liveness(_frames(seq), "blink")
    assert r.passed, r
    assert r.code == liveness.PASSED
    assert r.frames_used == 5
    assert min(m.ear for m in r.measures) < 0.15 < max(m.ear for m in r.measures)


def test_eyes_that_close_and_never_reopen_are_not_a_blink(subject):
    img, pts = subject
    closed = close_eyes(img, pts)
    r = liveness.check_liveness(_frames([img, img, closed, closed, closed]), "blink")
    assert not r.passed
    assert r.code == liveness.NOT_PERFORMED


def test_a_printed_photo_held_still_or_moved_fails_every_challenge(subject):
    img, _ = subject
    still = [_shift(img, dx, dy) for dx, dy in [(0, 0), (4, 2), (-3, 5), (6, -2), (1, 1), (-5, 0)]]
    for challenge in liveness.CHALLENGES:
        r = liveness.check_liveness(_frames(still), challenge)
        assert not r.passed, (challenge, r)
        assert r.code == liveness.NOT_PERFORMED


def test_a_printed_photo_tilted_back_does_not_pass_for_a_blink(subject):
    # Tilting a photo about its horizontal axis squashes the eyes (the EAR drops) - and the whole
    # face with them, which the face-aspect normalisation sees.  Past about 0.7 the detector
    # no longer finds the squashed face at all.
    img, _ = subject
    seq = [img] + [flat_photo_tilted(img, k) for k in (0.9, 0.8, 0.75, 0.8, 0.9)] + [img]
    r = liveness.check_liveness(_frames(seq), "blink")
    assert not r.passed, r
    assert r.code == liveness.NOT_PERFORMED
    assert min(m.aspect for m in r.measures) < 0.8 * max(m.aspect for m in r.measures)
    assert min(m.ear for m in r.measures) < 0.8 * max(m.ear for m in r.measures)


@pytest.mark.parametrize("direction,sign", [("left", +1), ("right", -1)])
def test_a_head_turn_to_the_asked_side_passes(subject, direction, sign):
    img, pts = subject
    seq = [img, _shift(img, 2, 0), turn_head(img, pts, sign * 0.1), turn_head(img, pts, sign * 0.2),
           turn_head(img, pts, sign * 0.2)]
    r = liveness.check_liveness(_frames(seq), f"turn-{direction}")
    assert r.passed, r
    other = "right" if direction == "left" else "left"
    assert not liveness.check_liveness(_frames(seq), f"turn-{other}").passed


def test_a_printed_photo_turned_about_its_vertical_axis_is_not_a_head_turn(subject):
    img, _ = subject
    seq = [img] + [flat_photo_turned(img, k) for k in (0.9, 0.8, 0.7, 0.6)]
    for challenge in ("turn-left", "turn-right"):
        r = liveness.check_liveness(_frames(seq), challenge)
        assert not r.passed, (challenge, r)
        assert max(abs(m.yaw_ratio - r.measures[0].yaw_ratio) for m in r.measures) < liveness.TURN_MIN_SHIFT


def test_another_face_cut_into_the_sequence_is_a_discontinuity(subject):
    img, _ = subject
    other = np.asarray(hopper().resize((1024, 1200)))[:1024]
    r = liveness.check_liveness(_frames([img, img, other, img]), "blink")
    assert not r.passed
    assert r.code == liveness.FACE_DISCONTINUITY


def test_two_faces_in_a_frame_fail_with_multiple_faces():
    # Both faces large enough to be seen in a 640 px frame (the working size of liveness frames).
    both = np.asarray(side_by_side(astronaut().crop((120, 30, 330, 240)).resize((420, 420)),
                                   hopper().crop((130, 100, 410, 380)).resize((420, 420))))
    r = liveness.check_liveness(_frames([both] * 3), "blink")
    assert (r.passed, r.code) == (False, face.MULTIPLE_FACES)


def test_frames_without_a_face_fail_with_no_face():
    blank = np.full((480, 640, 3), 180, dtype=np.uint8)
    r = liveness.check_liveness(_frames([blank] * 4), "turn-left")
    assert (r.passed, r.code) == (False, face.NO_FACE)


def test_too_few_frames_and_unknown_challenges_are_refused(subject):
    img, _ = subject
    assert liveness.check_liveness(_frames([img, img]), "blink").code == liveness.NOT_ENOUGH_FRAMES
    assert liveness.check_liveness(_frames([img] * 3), "smile").code == liveness.UNKNOWN_CHALLENGE
    r = liveness.check_liveness([b"junk"] * 3, "blink")
    assert (r.passed, r.code) == (False, face.UNREADABLE_IMAGE)


def test_blink_decision_on_ear_series():
    assert liveness.assess_blink([0.30, 0.31, 0.12, 0.29, 0.30])[0]
    assert not liveness.assess_blink([0.30, 0.31, 0.29, 0.30, 0.30])[0]   # never closed
    assert not liveness.assess_blink([0.12, 0.30, 0.31, 0.30])[0]         # closed only at the start
    assert not liveness.assess_blink([0.30, 0.12])[0]                     # too few frames
    # A whole face squashed to 55 % height: EAR and aspect fall together, no blink.
    assert not liveness.assess_blink([0.30, 0.30, 0.165, 0.30], [1.0, 1.0, 0.55, 1.0])[0]


def test_turn_decision_on_nose_ratio_series():
    assert liveness.assess_turn([0.50, 0.51, 0.58, 0.63], "left")[0]
    assert liveness.assess_turn([0.50, 0.49, 0.42, 0.37], "right")[0]
    assert not liveness.assess_turn([0.50, 0.49, 0.42, 0.37], "left")[0]
    assert not liveness.assess_turn([0.50, 0.52, 0.54, 0.55], "left")[0]   # too small
    assert not liveness.assess_turn([0.68, 0.70, 0.80, 0.85], "left")[0]   # not frontal first
