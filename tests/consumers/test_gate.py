"""The readability gate: pose from landmarks and the checks by hand, then the real detector and
classifier on the synthetic classroom, through the wire, as the consumer runs them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from classpulse.settings import Settings
from classpulse.wire import decode_jpeg, encode_frame, parse_message
from consumers.analyze import FrameAnalyzer
from consumers.gate import (
    FrameReading,
    GateConfig,
    Verdict,
    judge_confidence,
    judge_detection,
    judge_geometry,
)
from model.pose import FRONTAL_ASPECT, NOSE_DEPTH, head_pose
from producers.synthetic import SyntheticClassroom

GATE = GateConfig(min_face_px=19, max_pitch=30, max_yaw=40, max_roll=25, min_confidence=0.35,
                  min_face_score=0.9)


def face(pitch: float = 0.0, yaw: float = 0.0, roll: float = 0.0, eye: float = 20.0
         ) -> np.ndarray:
    """Five landmarks of the head model at the given angles: eyes ``eye`` px apart (times
    cos yaw), mouth FRONTAL_ASPECT eye distances below (times cos pitch), nose sideways by
    NOSE_DEPTH sin yaw; then rolled about the eyes' midpoint."""
    d = eye * np.cos(np.radians(yaw))
    down = FRONTAL_ASPECT * eye * np.cos(np.radians(pitch))
    side = NOSE_DEPTH * eye * np.sin(np.radians(yaw))
    points = np.array([[-d / 2, 0], [d / 2, 0], [side, down * 0.55], [-d / 2 * 0.8, down],
                       [d / 2 * 0.8, down]])
    r = np.radians(roll)
    rotation = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    return points @ rotation.T + 100.0


def test_head_pose_recovers_the_head_models_angles() -> None:
    cases = [(0, 0, 0), (40, 0, 0), (0, 30, 0), (0, 0, 20), (35, 25, -15)]
    got = head_pose(np.stack([face(*c) for c in cases]))
    # yaw keeps its magnitude, roll its sign; within a degree of the model
    want = [(p, abs(y), r) for p, y, r in cases]
    np.testing.assert_allclose(got, want, atol=1.0)
    # eyes on one point: nothing readable, pitch 90
    assert head_pose(np.full((1, 5, 2), 7.0))[0, 0] == pytest.approx(90.0)


def test_geometry_refuses_small_first_then_turned() -> None:
    boxes = np.array([[0, 0, 18, 18], [0, 0, 19, 19], [0, 0, 40, 30], [0, 0, 40, 40],
                      [0, 0, 40, 40], [0, 0, 40, 40], [0, 0, 10, 10]], np.float64)
    pose = np.array([[0, 0, 0], [0, 0, 0], [30, 40, -25], [31, 0, 0], [0, 41, 0], [0, 0, -26],
                     [60, 0, 0]], np.float64)
    assert judge_geometry(boxes, pose, GATE).tolist() == [
        Verdict.SMALL, Verdict.READ, Verdict.READ, Verdict.TURNED, Verdict.TURNED,
        Verdict.TURNED, Verdict.SMALL]
    probs = np.array([[0.34, 0.11, 0.11, 0.11, 0.11, 0.11, 0.11],
                      [0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.70],
                      [0.35, 0.15, 0.1, 0.1, 0.1, 0.1, 0.1]])
    assert judge_confidence(probs, GATE).tolist() == [Verdict.UNCERTAIN, Verdict.READ,
                                                      Verdict.READ]
    assert judge_confidence(np.zeros((0, 7)), GATE).tolist() == []


def test_a_face_that_cannot_be_measured_is_refused() -> None:
    """NaN from the landmarks (an angle) or the network (fp16 overflow) refuses the face; a NaN
    row read as a face would count as angry and poison the minute's sums."""
    boxes = np.array([[0, 0, 40, 40], [0, 0, np.nan, 40], [0, 0, 40, 40]], np.float64)
    pose = np.array([[np.nan, 0, 0], [0, 0, 0], [0, 0, np.nan]], np.float64)
    assert judge_geometry(boxes, pose, GATE).tolist() == [Verdict.TURNED, Verdict.SMALL,
                                                          Verdict.TURNED]
    probs = np.array([[np.nan] * 7, [0.9, np.inf, 0, 0, 0, 0, 0], [0.9, 0, 0, 0, 0, 0, 0.1]])
    assert judge_confidence(probs, GATE).tolist() == [Verdict.UNCERTAIN, Verdict.UNCERTAIN,
                                                      Verdict.READ]
    assert judge_confidence(probs, GateConfig.open()).tolist() == [
        Verdict.UNCERTAIN, Verdict.UNCERTAIN, Verdict.READ]


def wire(frame: np.ndarray) -> np.ndarray:
    """The frame as a consumer decodes it after the producer's defaults."""
    key, value, headers = encode_frame(frame, camera="cam", classroom="7B",
                                       captured_at_ms=1_767_000_000_000, seq=0)
    return decode_jpeg(parse_message(key, value, headers))


def test_detection_refuses_faces_cut_by_the_edge_then_scored_low() -> None:
    """A landmark outside the frame (100 x 200 here, height x width) is a face cut by its edge:
    TURNED, whatever its score; a face scored under min_face_score is UNCERTAIN (0.9 itself
    reads); a NaN score refuses."""
    inside = face()  # landmarks about (90-110, 100-122)
    out_right = inside + np.array([95, 0])  # a mouth corner past x = 200
    out_top = inside - np.array([0, 101])
    marks = np.stack([inside, inside, inside, out_right, out_top, out_right])
    scores = np.array([0.99, 0.9, 0.89, 0.99, 0.99, 0.5])
    assert judge_detection(scores, marks, (100 + 30, 200), GATE).tolist() == [
        Verdict.READ, Verdict.READ, Verdict.UNCERTAIN, Verdict.TURNED, Verdict.TURNED,
        Verdict.TURNED]
    assert judge_detection(np.array([np.nan]), marks[:1], (130, 200), GATE).tolist() == [
        Verdict.UNCERTAIN]
    assert judge_detection(np.zeros(0), np.zeros((0, 5, 2)), (130, 200), GATE).tolist() == []
    assert judge_detection(scores, marks, (130, 200), GateConfig.open()).tolist() == [
        Verdict.READ] * 6  # the open gate (bench gate's comparison) reads every face


def test_a_face_cut_by_the_frames_edge_or_scored_low_is_not_read(faces_dir: Path) -> None:
    """The group photo cut through its rightmost face (half of its box in the frame): the
    consumer read that half face (sad 0.42, its crop off the face's centre); now its landmarks
    outside the frame refuse it as turned. The whole photo's six faces are read, and one of
    them given the score of a hand the detector took for a face (0.85: the crowd video's hands,
    jackets and backs of heads were scored 0.6-0.9) is refused as uncertain."""
    from model import Detections
    from model.detector import read_rgb

    analyzer = FrameAnalyzer.load(Settings(device="cpu"))
    photo = read_rgb(str(faces_dir / "group-6-faces.jpg"))
    (found,) = analyzer.detector.detect([photo])
    assert total(analyzer.read([photo], [found])) == (6, 6, (0, 0, 0))
    right = int(np.argmax(found.boxes[:, 0]))
    x1, _, x2, _ = found.boxes[right]
    cut = np.ascontiguousarray(photo[:, :int((x1 + x2) / 2)])
    (in_cut,) = analyzer.detector.detect([cut])
    (half,) = np.flatnonzero(in_cut.boxes[:, 2] >= cut.shape[1] - 1)
    assert in_cut.scores[half] >= 0.9  # the detector is sure of it: only its cut refuses it
    one = Detections(in_cut.boxes[[half]], in_cut.scores[[half]], in_cut.landmarks[[half]])
    assert total(analyzer.read([cut], [one])) == (1, 0, (0, 1, 0))
    scores = found.scores.copy()
    scores[right] = 0.85
    low = Detections(found.boxes, scores, found.landmarks)
    assert total(analyzer.read([photo], [low])) == (6, 5, (0, 0, 1))


@pytest.fixture(scope="module")
def analyzer() -> FrameAnalyzer:
    return FrameAnalyzer.load(Settings(device="cpu"))


def total(readings: list[FrameReading]) -> tuple[int, int, tuple[int, ...]]:
    refused = np.sum([r.refused for r in readings], axis=0)
    return (sum(r.faces for r in readings), sum(len(r.probs) for r in readings),
            tuple(int(x) for x in refused))


def test_cctv_classroom_faces_are_refused_as_too_small(analyzer: FrameAnalyzer) -> None:
    """The real classroom's case: 640x352, faces 10-16 px, most heads bowed. Every face the
    detector finds counts in view; none is read, every one refused as too small."""
    room = SyntheticClassroom(seed=0, view="cctv")
    frames = [wire(room.render(t * room.scene_s)) for t in range(3)]
    faces, read, refused = total(analyzer.analyze(frames))
    assert faces >= 2 * len(frames)  # three to five found per frame
    assert (read, refused) == (0, (faces, 0, 0))


def test_the_same_classroom_filmed_sharper_is_read(analyzer: FrameAnalyzer) -> None:
    """The same seats at three times the pixels (a 1920-px camera's view of that room, which the
    producer's default no longer shrinks): faces are no longer too small, and are read."""
    room = SyntheticClassroom(seed=0, view="cctv")
    frames = [wire(cv2.resize(room.render(t * room.scene_s), None, fx=3, fy=3,
                              interpolation=cv2.INTER_CUBIC)) for t in range(2)]
    assert frames[0].shape[:2] == (1056, 1920)
    readings = analyzer.analyze(frames)
    faces, read, (small, turned, uncertain) = total(readings)
    assert faces >= 8 and small <= faces // 4
    assert read >= faces // 3
    assert read + small + turned + uncertain == faces


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="the landmarks cannot see a bowed head (model/README.md, 'What the "
                   "landmarks cannot see'); a head-pose network is the known fix")
def test_bowed_heads_filmed_sharp_enough_are_not_read(analyzer: FrameAnalyzer) -> None:
    """The known hole in the gate, kept in view: the classroom at three times the pixels, every
    face the detector finds on a bowed head (the scene's truth) put through the gate alone. Most
    are read today (8 of the 10 here; over seeds 0-2, 30 of 44, 17 as angry and 7 as sad), so a
    class writing at desks filmed by a camera sharp enough to read faces can look angry or sad.
    This test fails the day the gate refuses them; then drop the mark and the caveats in the
    README, model/README.md and the dashboard's explanation (dashboard/text.py)."""
    from model import Detections

    room = SyntheticClassroom(seed=0, view="cctv")
    frames, bowed = [], []
    for t in range(3):
        frame, seats = room.render_with_truth(t * room.scene_s)
        big = wire(cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC))
        found = analyzer.detector.detect([big])[0]
        centre = (found.boxes[:, :2] + found.boxes[:, 2:]) / 6  # in the 640-px scene
        on_bowed = np.array([any(s.bowed and s.box[0] <= x <= s.box[2]
                                 and s.box[1] - 4 <= y <= s.box[3] + 4 for s in seats)
                             for x, y in centre], bool)
        frames.append(big)
        bowed.append(Detections(found.boxes[on_bowed], found.scores[on_bowed],
                                found.landmarks[on_bowed]))
    faces, read, _ = total(analyzer.read(frames, bowed))
    if faces < 8:  # not the known failure: the detector no longer finds the bowed heads
        pytest.fail(f"only {faces} detections on bowed heads; the test needs at least 8")
    assert read <= faces // 10


def test_no_size_check_when_its_minimum_is_zero() -> None:
    """GATE_MIN_FACE_PX=0 turns the size check off (it crashed the consumer at start): the CCTV
    classroom's 10-16 px faces are then judged on pose and confidence alone."""
    analyzer = FrameAnalyzer.load(Settings(device="cpu", gate_min_face_px=0.0))
    room = SyntheticClassroom(seed=0, view="cctv")
    faces, read, (small, turned, uncertain) = total(
        analyzer.analyze([wire(room.render(t * room.scene_s)) for t in range(2)]))
    assert faces >= 4 and small == 0
    assert read + turned + uncertain == faces and read >= 1


def test_readable_faces_in_view_are_read(analyzer: FrameAnalyzer) -> None:
    """The demo classroom (faces 34-50 px facing the camera): most faces are read; the few small
    refusals are detections off the faces (the frame shows about 14 faces)."""
    room = SyntheticClassroom(seed=0, view="demo")
    faces, read, (small, turned, _) = total(analyzer.analyze([wire(room.render(0.0))]))
    assert faces >= 10 and small <= faces // 4 and turned <= 1
    assert read >= faces // 2
