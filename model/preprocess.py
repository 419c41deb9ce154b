"""Face preprocessing, shared by training, evaluation and live inference so they cannot drift apart.

Inference and evaluation call ``prepare_faces``. Training prepares val with it too; its training
faces it keeps as ``to_gray_square`` pixels (uint8, a quarter of the memory) and turns into the
network's input a batch at a time with the same ``normalise`` (``model.train.Data.train_batch``),
then applies ``augment_batch`` (training only) to the normalised tensors, the way torchvision's
``presets.py`` keeps train and eval transforms side by side.

Steps, in order: (1) ``crop_face``: a square crop around the detector's box, enlarged by the
margin stored with the weights (``Preprocessing.margin``, which the consumers crop with) so the
crop frames the face the way FER2013's 48x48 images do (forehead to chin, a little
background); (2) grayscale with the ITU-R 601 weights (a gray image copied into RGB stays exactly
the same gray); (3) resize to ``size`` x ``size`` (area averaging when shrinking, bilinear when
enlarging: classroom faces are often smaller than 48 px); (4) scale to [0, 1] and normalise with
the mean and standard deviation stored with the weights.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from model.recipes import Augmentation

__all__ = ["Augmentation"]  # re-exported: augment_batch's argument

DEFAULT_SIZE = 48
# FER2013 training pixels: mean 129.4 / 255, standard deviation 65.0 / 255
DEFAULT_MEAN = 0.5077
DEFAULT_STD = 0.2550
# each side of the detector's box grows by this fraction of the box's longer side
DEFAULT_MARGIN = 0.15
# a classroom-sized face crop (px): training also scores val's faces shrunk to this side
SMALL_FACE = 20


@dataclass(frozen=True)
class Preprocessing:
    """What turns a face crop into the network's input; stored in the weights' metadata."""

    size: int = DEFAULT_SIZE
    mean: float = DEFAULT_MEAN
    std: float = DEFAULT_STD
    margin: float = DEFAULT_MARGIN


def crop_face(frame: np.ndarray, box: Sequence[float], margin: float = DEFAULT_MARGIN
              ) -> np.ndarray:
    """Square crop centred on ``box`` (x1, y1, x2, y2), side = longer side * (1 + 2 * margin).

    Parts of the square outside the frame are filled by repeating the border pixels, so a face at
    the edge of the picture keeps its place in the crop instead of being stretched.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    left, top = math.floor(cx - side / 2.0), math.floor(cy - side / 2.0)
    n = max(round(side), 1)
    h, w = frame.shape[:2]
    pad_l, pad_t = max(0, -left), max(0, -top)
    pad_r, pad_b = max(0, left + n - w), max(0, top + n - h)
    x_from, y_from = max(left, 0), max(top, 0)
    x_to, y_to = min(left + n, w), min(top + n, h)
    if x_to <= x_from or y_to <= y_from:
        raise ValueError(f"face box {tuple(box)} lies outside the {w}x{h} frame")
    crop = frame[y_from:y_to, x_from:x_to]
    if pad_l or pad_t or pad_r or pad_b:
        crop = cv2.copyMakeBorder(crop, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


def to_gray_square(face: np.ndarray, size: int = DEFAULT_SIZE) -> np.ndarray:
    """uint8 gray (H, W), RGB (H, W, 3) or (H, W, 1) face -> uint8 gray ``size`` x ``size``."""
    if face.dtype != np.uint8:
        raise TypeError(f"face crops must be uint8, got {face.dtype}")
    if face.ndim == 3 and face.shape[2] == 3:
        gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    elif face.ndim == 3 and face.shape[2] == 1:
        gray = face[:, :, 0]
    elif face.ndim == 2:
        gray = face
    else:
        raise ValueError(f"a face crop must be HxW gray or HxWx3 RGB, got shape {face.shape}")
    h, w = gray.shape
    if h == 0 or w == 0:
        raise ValueError("empty face crop")
    if (h, w) != (size, size):
        shrinking = h > size and w > size
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (size, size), interpolation=interp)
    return np.ascontiguousarray(gray)


def shrink_faces(faces: Sequence[np.ndarray], side: int) -> list[np.ndarray]:
    """Each face as a camera would record it at ``side`` x ``side`` pixels (area averaging).

    Why: classroom CCTV sees faces of 15-40 px, which ``prepare_faces`` then enlarges to the
    network's size; evaluating FER2013's faces shrunk this way measures the network on the blur it
    will meet live, and training (``--low-res``) uses the same kind of loss of detail.
    """
    if side < 1:
        raise ValueError(f"face side must be at least 1 px, got {side}")
    return [f if min(f.shape[:2]) <= side
            else cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in faces]


def normalise(gray: torch.Tensor, mean: float = DEFAULT_MEAN, std: float = DEFAULT_STD
              ) -> torch.Tensor:
    """uint8 (N, S, S) -> float32 (N, 1, S, S), scaled to [0, 1], minus mean, over std."""
    return ((gray.to(torch.float32) / 255.0 - mean) / std).unsqueeze(1)


def prepare_faces(faces: Sequence[np.ndarray], prep: Preprocessing = Preprocessing()
                  ) -> torch.Tensor:
    """Face crops (any size, gray or RGB uint8) -> the network's float32 input (N, 1, S, S).

    The one function between a face crop and the network, for training, evaluation and inference.
    """
    if len(faces) == 0:
        return torch.empty((0, 1, prep.size, prep.size), dtype=torch.float32)
    stacked = np.stack([to_gray_square(f, prep.size) for f in faces])
    return normalise(torch.from_numpy(stacked), prep.mean, prep.std)


def tilt_grid(grid: torch.Tensor, tilt: torch.Tensor) -> torch.Tensor:
    """Sampling coordinates (N, H, W, 2) in ``grid_sample``'s [-1, 1] units, warped as a face
    seen from above with the head bowed: the forehead, nearer the camera, comes out wider and
    taller, the chin narrower and squeezed (a vertical perspective plus a downward shift of the
    face's middle). ``tilt`` (N,) from 0 (unchanged) to about 0.5 (strongly bowed).

    Output row v (-1 top, 1 bottom) samples the input at width factor 1 + tilt * v (narrow at the
    top: magnified) and height v - tilt / 2 * (1 - v^2) (the middle rows read from higher up).
    """
    t = tilt.view(-1, 1, 1)
    u, v = grid[..., 0], grid[..., 1]
    return torch.stack((u * (1.0 + t * v), v - 0.5 * t * (1.0 - v * v)), dim=-1)


def classroom_view(x: torch.Tensor, tilt: float) -> torch.Tensor:
    """Normalised faces (N, 1, S, S) warped by ``tilt_grid`` at one strength: val faces as a
    camera above the class sees them, to measure what the classroom augmentation buys."""
    n = x.shape[0]
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=x.device).expand(n, 2, 3)
    grid = F.affine_grid(eye, list(x.shape), align_corners=False)
    grid = tilt_grid(grid, torch.full((n,), float(tilt), device=x.device))
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment_batch(x: torch.Tensor, gen: torch.Generator, aug: Augmentation | None = None
                  ) -> torch.Tensor:
    """Random affine (rotation, zoom, shift), classroom view, flip, brightness/contrast, erasing
    and low resolution on a batch.

    Works on normalised tensors (N, 1, S, S), on whatever device they live, as batched tensor
    ops (one ``grid_sample`` for all the geometry), so it costs little next to the network and
    needs no data-loader processes. The random numbers come from ``gen`` on the CPU, so a run
    draws the same augmentation on any device and resumes exactly. Pixels moved in from outside
    are 0, the dataset mean.

    All of a batch's random numbers are drawn first (``_draw``) and reach the device in one
    non-blocking copy from pinned memory: a blocking copy per draw (about 20 a batch) would make
    the host wait for the GPU each time, so it could never queue the next batch's work ahead.
    """
    aug = aug if aug is not None else Augmentation()
    n, _, h, w = x.shape
    drawn = _draw(n, h, w, gen, aug)
    r = dict(zip(drawn, _to_device(torch.stack(list(drawn.values())), x.device), strict=True))
    angle = r["angle"] * (math.pi / 180.0)
    scale = r["scale"]
    flip = torch.where(r["flip"] < aug.flip, -1.0, 1.0)
    tx, ty = r["tx"] * 2, r["ty"] * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, tx], dim=1),
        torch.stack([sin * flip, cos, ty], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if aug.classroom > 0:
        tilt = torch.where(r["classroom_pick"] < aug.classroom, r["classroom_tilt"], 0.0)
        grid = tilt_grid(grid, tilt)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out * r["contrast"].view(n, 1, 1, 1) + r["brightness"].view(n, 1, 1, 1)
    if aug.erase > 0:
        out = _erase(out, r)
    if aug.low_res > 0:
        out = _low_res(out, r, aug.low_res_sides)
    return out


def _draw(n: int, h: int, w: int, gen: torch.Generator, aug: Augmentation
          ) -> dict[str, torch.Tensor]:
    """Every random number ``augment_batch`` uses on a batch of ``n`` faces of ``h`` x ``w``,
    drawn from ``gen`` on the CPU, as float32 (n,) rows by name.

    The order of the draws is the random stream, which resumes and older recipes' legs depend
    on: a strength of 0 for the classroom view, erasing or low resolution draws nothing for it.
    Uniform draws are scaled to their range here, on the CPU, and erasing's rectangles computed
    here too (whole pixels, exact in float32), as before the draws were batched.
    """
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    r = {"angle": uniform(-aug.rotation_deg, aug.rotation_deg), "scale": uniform(*aug.scale),
         "flip": uniform(0.0, 1.0)}
    r["tx"] = uniform(-aug.translate, aug.translate)
    r["ty"] = uniform(-aug.translate, aug.translate)
    if aug.classroom > 0:
        r["classroom_pick"] = uniform(0.0, 1.0)
        r["classroom_tilt"] = uniform(0.0, aug.classroom_tilt)
    r["contrast"] = uniform(1.0 - aug.contrast, 1.0 + aug.contrast)
    r["brightness"] = uniform(-aug.brightness, aug.brightness)
    if aug.erase > 0:
        r.update(_draw_erase(n, h, w, gen, aug.erase))
    if aug.low_res > 0:
        r["low_res_pick"] = (torch.rand(n, generator=gen) < aug.low_res).float()
        lo, hi = aug.low_res_sides
        r["low_res_index"] = (torch.randint(lo, hi + 1, (n,), generator=gen) - lo).float()
    return r


def _to_device(rows: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``rows`` (a CPU tensor) on ``device`` in one copy that does not make the host wait: from
    pinned memory for a GPU (a copy from pageable memory would wait for the copy to finish).
    The caching host allocator keeps the pinned block until the copy is done."""
    if device.type == "cuda":
        rows = rows.pin_memory()
    return rows.to(device, non_blocking=True)


def _low_res(x: torch.Tensor, r: dict[str, torch.Tensor], sides: tuple[int, int]
             ) -> torch.Tensor:
    """Shrink the images ``r["low_res_pick"]`` picks to the side ``r["low_res_index"]`` gives
    (0 for ``sides[0]``), then enlarge them back: the loss of detail that ``shrink_faces`` +
    ``prepare_faces`` give a small live face.

    Both resamplings are OpenCV's (area averaging down, half-pixel bilinear up) written as one
    matrix per side, ``out = M x M^T``, so training sees the very blur inference does; they are
    linear, so applying them to normalised values is the same as to pixels. One batched product
    for the whole batch, with the matrices built once per process and device: no per-batch
    Python loops or copies that would stall a GPU.
    """
    n, _, h, w = x.shape
    index = r["low_res_index"].long()
    rows = _resample_stack_on(h, *sides, x.device, x.dtype)[index]  # (n, h, h)
    cols = _resample_stack_on(w, *sides, x.device, x.dtype)[index]  # (n, w, w)
    blurred = rows.unsqueeze(1) @ x @ cols.unsqueeze(1).transpose(-1, -2)
    return torch.where(r["low_res_pick"].bool().view(n, 1, 1, 1), blurred, x)


@functools.lru_cache(maxsize=8)
def _resample_stack_on(full: int, smallest: int, largest: int, device: torch.device,
                       dtype: torch.dtype) -> torch.Tensor:
    """``_resample_stack`` copied to ``device`` once per process (not once per batch)."""
    return _resample_stack(full, smallest, largest).to(device, dtype)


@functools.lru_cache(maxsize=8)
def _resample_stack(full: int, smallest: int, largest: int) -> torch.Tensor:
    """(largest - smallest + 1, full, full): ``_resample_matrix`` for each side, the identity for
    sides of ``full`` or more (nothing to shrink). Read-only: cached for the process."""
    return torch.stack([_resample_matrix(full, s) if s < full else torch.eye(full)
                        for s in range(smallest, largest + 1)])


def _resample_matrix(full: int, small: int) -> torch.Tensor:
    """(full x full) matrix: ``full`` samples area-shrunk to ``small``, then bilinearly enlarged
    back, as ``cv2.resize`` does with INTER_AREA and INTER_LINEAR."""
    down = torch.zeros(small, full, dtype=torch.float64)
    step = full / small
    for i in range(small):
        lo, hi = i * step, (i + 1) * step
        for j in range(math.floor(lo), min(math.ceil(hi), full)):
            down[i, j] = (min(hi, j + 1) - max(lo, j)) / step
    up = torch.zeros(full, small, dtype=torch.float64)
    for i in range(full):
        f = (i + 0.5) * small / full - 0.5
        j = math.floor(f)
        t = f - j
        if j < 0:
            j, t = 0, 0.0
        if j >= small - 1:
            j, t = small - 1, 0.0
        up[i, j] += 1.0 - t
        if t:
            up[i, j + 1] += t
    return (up @ down).to(torch.float32)


def _draw_erase(n: int, h: int, w: int, gen: torch.Generator, p: float
                ) -> dict[str, torch.Tensor]:
    """Random erasing's draws: which of ``n`` images (a fraction ``p``) lose a rectangle of
    2-20% of the area, and the rectangle (top, left, height, width in whole pixels)."""
    pick = torch.rand(n, generator=gen) < p
    area = torch.rand(n, generator=gen) * 0.18 + 0.02
    ratio = torch.exp(torch.rand(n, generator=gen) * 1.6 - 0.8)
    eh = (torch.sqrt(area * ratio) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / ratio) * w).clamp(1, w).long()
    top = (torch.rand(n, generator=gen) * (h - eh + 1).float()).long()
    left = (torch.rand(n, generator=gen) * (w - ew + 1).float()).long()
    return {"erase_pick": pick.float(), "erase_top": top.float(), "erase_left": left.float(),
            "erase_h": eh.float(), "erase_w": ew.float()}


def _erase(x: torch.Tensor, r: dict[str, torch.Tensor]) -> torch.Tensor:
    """Zero the rectangle ``_draw_erase`` drew in each image it picked."""
    n, _, h, w = x.shape
    top, left, eh, ew = (r[k].long().view(n, 1, 1)
                         for k in ("erase_top", "erase_left", "erase_h", "erase_w"))
    pick = r["erase_pick"].bool().view(n, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    mask = ((rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew) & pick)
    return x.masked_fill(mask.unsqueeze(1), 0.0)
