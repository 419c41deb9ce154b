"""Head pose from the detector's five landmarks, and face images warped to a given view.

Both halves serve the readability gate (consumers/gate.py): :func:`view_warp` lets ``classpulse
model evaluate --pitch/--yaw/--roll`` measure how the classifier's accuracy falls as a face turns
away from the camera, and :func:`head_pose` estimates those same angles for a live face from its
landmarks, so the gate's pose limits are the measured angles.

The estimate is a two-number head model measured on MTCNN's landmarks of real frontal faces
(../shared/data/faces: the six faces of the group photograph and the frontal portraits):

- ``FRONTAL_ASPECT``: the vertical distance from the eyes' midpoint to the mouth's, in eye
  distances, after undoing the roll (1.05; 0.93-1.13 on those faces). Seen from above or bowed,
  the face foreshortens vertically (``cos(pitch)``); turned aside, the eye distance shrinks
  (``cos(yaw)``);
- ``NOSE_DEPTH``: how far the nose tip moves sideways from the eyes' midpoint per unit of
  ``sin(yaw)``, in frontal eye distances (0.45; turned faces in the crowd video, their yaw taken
  from their aspect, give 0.36-0.54).

The eye distance seen is the frontal one times ``cos(yaw)``, so ``yaw = atan(nose offset /
NOSE_DEPTH)`` with the offset in eye distances seen, and ``cos(pitch) = aspect * cos(yaw) /
FRONTAL_ASPECT``. A planar model, not a face fit: good to about ten degrees, which is finer than
the accuracy curves the limits come from.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

FRONTAL_ASPECT = 1.05
NOSE_DEPTH = 0.45


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(N, 5, 2) landmarks (eyes, nose, mouth corners) -> (N, 3) degrees: pitch, yaw, roll.

    Pitch and yaw are magnitudes (0 = facing the camera, 90 = edge on); roll is the eye line's
    angle. Faces whose eyes coincide get 90 degrees of pitch (nothing readable).
    """
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    eyes = (lm[:, 0] + lm[:, 1]) / 2
    mouth = (lm[:, 3] + lm[:, 4]) / 2
    eye_line = lm[:, 1] - lm[:, 0]
    dist = np.hypot(eye_line[:, 0], eye_line[:, 1])
    roll = np.arctan2(eye_line[:, 1], eye_line[:, 0])
    cos, sin = np.cos(-roll), np.sin(-roll)

    def upright(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return cos * v[:, 0] - sin * v[:, 1], sin * v[:, 0] + cos * v[:, 1]

    safe = np.where(dist > 1e-6, dist, 1.0)
    _, down = upright(mouth - eyes)
    nose_x, _ = upright(lm[:, 2] - eyes)
    yaw = np.arctan(np.abs(nose_x / safe) / NOSE_DEPTH)
    cos_pitch = np.clip(down / safe * np.cos(yaw) / FRONTAL_ASPECT, 0.0, 1.0)
    pitch = np.where(dist > 1e-6, np.arccos(cos_pitch), np.pi / 2)
    return np.degrees(np.stack([pitch, yaw, roll], axis=1))


def view_homography(side: int, pitch: float = 0.0, yaw: float = 0.0, roll: float = 0.0
                    ) -> np.ndarray:
    """The 3x3 homography that shows a ``side``-px face image turned by the given degrees.

    The image is a plane at the camera's focal distance (a normal lens: focal length = 2 sides),
    rotated about its centre: ``pitch`` tips its top away from the camera (a face seen from above
    or bowed), ``yaw`` turns it aside, ``roll`` tilts it in the image plane.
    """
    p, y, r = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    c = (side - 1) / 2.0
    focal = 2.0 * side
    corners = np.array([[0, 0], [side - 1, 0], [side - 1, side - 1], [0, side - 1]], np.float64)
    plane = np.column_stack([corners - c, np.zeros(4)]) @ (rz @ ry @ rx).T
    seen = focal * plane[:, :2] / (plane[:, 2:] + focal) + c
    return cv2.getPerspectiveTransform(corners.astype(np.float32), seen.astype(np.float32))


def view_warp(faces: Sequence[np.ndarray], pitch: float = 0.0, yaw: float = 0.0,
              roll: float = 0.0) -> list[np.ndarray]:
    """Each face as the camera would see it turned by the given degrees, same size, the border
    pixels repeated where the turned face no longer covers the image."""
    if not (pitch or yaw or roll):
        return list(faces)
    out = []
    for face in faces:
        h, w = face.shape[:2]
        if h != w:
            raise ValueError(f"view_warp takes square faces, got {w}x{h}")
        m = view_homography(w, pitch, yaw, roll)
        out.append(cv2.warpPerspective(face, m, (w, h), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE))
    return out
