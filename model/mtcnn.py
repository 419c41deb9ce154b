"""MTCNN, batched: facenet-pytorch's PNet, RNet and ONet (and their shipped weights), our pipeline.

facenet-pytorch's ``detect_face`` loops in Python over pyramid levels and over every candidate box
(one ``interpolate`` call per box and stage), copies boxes to the host twice per stage and runs its
last NMS in numpy. Here, for a batch of equal-sized frames:

- every frame goes through each pyramid level together (one PNet call per level), each level
  cut from the frames' integral image (``area_resize``: the same bins as facenet-pytorch's
  ``interpolate(mode="area")``, a fraction of its time on a CPU), or, for a level enlarged from
  the frame, from its pixels (``area_enlarge``, the same bits);
- the candidate crops of stages 2 and 3 are cut for all boxes of all frames at once, by one gather
  from the same integral image (``_crops`` says why not ``roi_align``);
- every NMS runs on the device: ``nms_by_group`` with a combined (frame, level) index for the
  per-level NMS, per frame after that, and the last, "Min" (intersection over the smaller box)
  NMS as a matrix fixed point (``nms_min``), so nothing goes to the host until the final boxes;
- RNet and ONet see their crops in chunks of one fixed size (``_STAGE_CHUNK``, the last chunk
  zero-padded), so a face's boxes do not depend on which other frames shared its batch: matrix
  kernels pick their blocking by row count, and differences of 1e-7 in a box, truncated to
  whole pixels for the next crop, moved boxes by up to a pixel and flipped emotions (a consumer's
  counts must equal any other run's on the same frames). Frames of one size keep their boxes to
  the bit whatever batch they share; with frames of other sizes in the batch, one coordinate was
  seen to differ in its last bit (6e-5 px, an AMD EPYC with AVX2 only).

The arithmetic follows ``detect_face`` step by step (pyramid scales, box generation, regression,
squaring, clipping, crop resampling, landmark formula), so with the same settings the same faces
come out with the same scores (tests/model/test_mtcnn.py compares the two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import nms

# facenet-pytorch's constants: PNet's stride and window, the pixel normalisation
_STRIDE, _CELL = 2, 12
_MEAN, _SCALE = 127.5, 0.0078125
# crops per RNet/ONet call: every call has this many rows, whatever the batch (module docstring)
_STAGE_CHUNK = 64


@dataclass(frozen=True)
class Faces:
    """Faces of a batch, still on the device: ``boxes`` (N, 4), ``scores`` (N,), ``landmarks``
    (N, 5, 2) in the detection image's pixels, ``frame`` (N,) the index of each face's frame;
    each frame's faces together, in order of falling score."""

    boxes: torch.Tensor
    scores: torch.Tensor
    landmarks: torch.Tensor
    frame: torch.Tensor


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """facenet-pytorch's pyramid: start at 12 / min_face_size, shrink by ``factor`` while the
    shorter side stays at least 12 px."""
    m = 12.0 / min_face_size
    minl = min(height, width) * m
    scales = []
    scale = m
    while minl >= 12:
        scales.append(scale)
        scale *= factor
        minl *= factor
    return scales


class BatchedMTCNN(torch.nn.Module):
    """The three MTCNN stages over a (B, 3, H, W) uint8 batch of RGB frames."""

    def __init__(self, min_face_size: float = 20.0,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709) -> None:
        super().__init__()
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.factor = factor
        self.eval()
        self._fold_pnet()

    def _fold_pnet(self) -> None:
        """PNet rearranged for speed, same function: the pixel normalisation folded into conv1,
        and the two 1x1 heads (face/no-face logits, box regression) into one matrix applied to
        the channels-last features, giving the face logit margin and the regression at once
        (softmax of two logits = sigmoid of their difference)."""
        p = self.pnet
        with torch.no_grad():
            w1 = p.conv1.weight * _SCALE
            b1 = p.conv1.bias - _MEAN * w1.sum(dim=(1, 2, 3))
            cls_w = p.conv4_1.weight[:, :, 0, 0]
            reg_w = p.conv4_2.weight[:, :, 0, 0]
            head_w = torch.cat([cls_w[1:2] - cls_w[0:1], reg_w]).t().contiguous()
            head_b = torch.cat([p.conv4_1.bias[1:2] - p.conv4_1.bias[0:1], p.conv4_2.bias])
        self.register_buffer("_conv1_w", w1.contiguous(memory_format=torch.channels_last),
                             persistent=False)
        self.register_buffer("_conv1_b", b1, persistent=False)
        self.register_buffer("_head_w", head_w, persistent=False)
        self.register_buffer("_head_b", head_b, persistent=False)
        for conv in (p.conv2, p.conv3):
            conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)
        # channels-last halves RNet's and ONet's time on a CPU (their max-pools above all)
        self.rnet.to(memory_format=torch.channels_last)
        self.onet.to(memory_format=torch.channels_last)

    def _pnet(self, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.pnet
        x = level.contiguous(memory_format=torch.channels_last)
        x = prelu_by_rows(F.conv2d(x, self._conv1_w, self._conv1_b), p.prelu1.weight)
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        x = prelu_by_rows(p.conv2(x), p.prelu2.weight)
        x = prelu_by_rows(p.conv3(x), p.prelu3.weight)
        out = torch.addmm(self._head_b, x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]),
                          self._head_w).view(x.shape[0], x.shape[2], x.shape[3], 5)
        return out[..., 1:], torch.sigmoid(out[..., 0])

    def _rnet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """facenet-pytorch's ``RNet.forward``, its PReLUs over channels-last rows."""
        r = self.rnet
        x = F.max_pool2d(prelu_by_rows(r.conv1(x), r.prelu1.weight), 3, 2, ceil_mode=True)
        x = F.max_pool2d(prelu_by_rows(r.conv2(x), r.prelu2.weight), 3, 2, ceil_mode=True)
        x = prelu_by_rows(r.conv3(x), r.prelu3.weight)
        x = r.prelu4(r.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return r.dense5_2(x), torch.softmax(r.dense5_1(x), dim=1)

    def _onet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """facenet-pytorch's ``ONet.forward``, its PReLUs over channels-last rows."""
        o = self.onet
        x = F.max_pool2d(prelu_by_rows(o.conv1(x), o.prelu1.weight), 3, 2, ceil_mode=True)
        x = F.max_pool2d(prelu_by_rows(o.conv2(x), o.prelu2.weight), 3, 2, ceil_mode=True)
        x = F.max_pool2d(prelu_by_rows(o.conv3(x), o.prelu3.weight), 2, 2, ceil_mode=True)
        x = prelu_by_rows(o.conv4(x), o.prelu4.weight)
        x = o.prelu5(o.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return o.dense6_2(x), o.dense6_3(x), torch.softmax(o.dense6_1(x), dim=1)

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> Faces:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a (B, 3, H, W) uint8 tensor, got {images.dtype} "
                             f"{tuple(images.shape)}")
        h, w = images.shape[2:]
        table = integral_image(images)
        boxes, frame = self._propose(images, table, h, w)
        boxes, frame = self._refine(table, boxes, frame, w, h)
        return self._output(table, boxes, frame, w, h)

    def _pnet_level(self, images: torch.Tensor, table: torch.Tensor, scale: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """PNet on one pyramid level: (B, h, w, 4) box regression and (B, h, w) face
        probability."""
        h, w = images.shape[2:]
        size = (int(h * scale + 1), int(w * scale + 1))
        if size[0] >= h and size[1] >= w:
            return self._pnet(area_enlarge(images, *size))
        return self._pnet(area_resize(table, *size))

    def _propose(self, images: torch.Tensor, table: torch.Tensor, h: int, w: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: PNet on every pyramid level of the frames ``images`` (and their integral
        image ``table``); boxes (N, 5: x1 y1 x2 y2 score) regressed and squared, after NMS per
        (frame, level) then per frame."""
        found, groups = [], []
        scales = pyramid_scales(h, w, self.min_face_size, self.factor)
        for i, scale in enumerate(scales):
            reg, prob = self._pnet_level(images, table, scale)
            mask = prob >= self.thresholds[0]
            idx = mask.nonzero()
            score = prob[mask]
            r = reg[mask]
            cell = idx[:, 1:].to(reg.dtype).flip(1)
            q1 = ((_STRIDE * cell + 1) / scale).floor()
            q2 = ((_STRIDE * cell + _CELL - 1 + 1) / scale).floor()
            found.append(torch.cat([q1, q2, score.unsqueeze(1), r], dim=1))
            groups.append(idx[:, 0] * len(scales) + i)
        boxes = torch.cat(found) if found else table.new_zeros((0, 9), dtype=torch.float32)
        group = torch.cat(groups) if groups else table.new_zeros((0,), dtype=torch.long)
        keep = nms_by_group(boxes[:, :4], boxes[:, 4], group, 0.5)
        boxes, frame = boxes[keep], group[keep] // max(len(scales), 1)
        keep = nms_by_group(boxes[:, :4], boxes[:, 4], frame, 0.7)
        boxes, frame = boxes[keep], frame[keep]
        regw = boxes[:, 2] - boxes[:, 0]
        regh = boxes[:, 3] - boxes[:, 1]
        q = torch.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh,
                         boxes[:, 2] + boxes[:, 7] * regw, boxes[:, 3] + boxes[:, 8] * regh,
                         boxes[:, 4]], dim=1)
        return _square(q), frame

    def _refine(self, table: torch.Tensor, boxes: torch.Tensor, frame: torch.Tensor, w: int,
                h: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2: RNet on 24x24 crops; threshold, NMS per frame, regression, squaring."""
        crops, boxes, frame = _crops(table, boxes, frame, w, h, 24)
        if boxes.shape[0] == 0:
            return boxes, frame
        reg, prob = _in_fixed_chunks(self._rnet, crops)
        score = prob[:, 1]
        ok = score > self.thresholds[1]
        boxes = torch.cat([boxes[ok, :4], score[ok].unsqueeze(1)], dim=1)
        frame, reg = frame[ok], reg[ok]
        keep = nms_by_group(boxes[:, :4], boxes[:, 4], frame, 0.7)
        return _square(_regress(boxes[keep], reg[keep])), frame[keep]

    def _output(self, table: torch.Tensor, boxes: torch.Tensor, frame: torch.Tensor, w: int,
                h: int) -> Faces:
        """Stage 3: ONet on 48x48 crops; threshold, landmarks, regression, "Min" NMS per frame."""
        crops, boxes, frame = _crops(table, boxes, frame, w, h, 48)
        if boxes.shape[0] == 0:
            return Faces(boxes[:, :4], boxes[:, 4], boxes.new_zeros((0, 5, 2)), frame)
        reg, points, prob = _in_fixed_chunks(self._onet, crops)
        score = prob[:, 1]
        ok = score > self.thresholds[2]
        boxes = torch.cat([boxes[ok, :4], score[ok].unsqueeze(1)], dim=1)
        frame, reg, points = frame[ok], reg[ok], points[ok]
        bw = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
        bh = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
        px = bw * points[:, :5] + boxes[:, 0:1] - 1
        py = bh * points[:, 5:10] + boxes[:, 1:2] - 1
        landmarks = torch.stack([px, py], dim=2)
        boxes = _regress(boxes, reg)
        keep = nms_min(boxes[:, :4], boxes[:, 4], frame, 0.7)
        # each frame's faces together, by falling score within the frame
        keep = keep[torch.sort(frame[keep], stable=True).indices]
        return Faces(boxes[keep, :4], boxes[keep, 4], landmarks[keep], frame[keep])


def prelu_by_rows(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``F.prelu(x, weight)`` of a channels-last (B, C, H, W) tensor, the same bits, with the
    memory read as B * H rows of W * C values and the slopes repeated along a row.

    PyTorch's channels-last PReLU broadcasts its C slopes over an innermost dimension of C
    values, which it does not vectorise for PNet's 10 channels: 4.5 ms for the consumer's first
    pyramid level, where the same values as rows take 2.3 (2-core CPU)."""
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(b * h, w * c)
    return F.prelu(rows, weight.repeat(w)).view(b, h, w, c).permute(0, 3, 1, 2)


def _in_fixed_chunks(net: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], crops: torch.Tensor
                     ) -> tuple[torch.Tensor, ...]:
    """``net(crops)`` computed ``_STAGE_CHUNK`` rows at a time, the last chunk zero-padded, so each
    row's outputs are the same bits whatever rows surround it."""
    n = crops.shape[0]
    padded = -n % _STAGE_CHUNK
    if padded:
        crops = torch.cat([crops, crops.new_zeros((padded, *crops.shape[1:]))])
    crops = crops.contiguous(memory_format=torch.channels_last)
    outs = [net(crops[i:i + _STAGE_CHUNK]) for i in range(0, crops.shape[0], _STAGE_CHUNK)]
    return tuple(torch.cat(parts)[:n] for parts in zip(*outs, strict=True))


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``bbreg`` (widths with the +1 of the original MATLAB code)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + reg[:, 0] * w
    out[:, 1] = boxes[:, 1] + reg[:, 1] * h
    out[:, 2] = boxes[:, 2] + reg[:, 2] * w
    out[:, 3] = boxes[:, 3] + reg[:, 3] * h
    return out


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """facenet-pytorch's ``rerec``: the square on the longer side, same centre."""
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(w, h)
    out = boxes.clone()
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def integral_image(images: torch.Tensor) -> torch.Tensor:
    """(B, H + 1, W + 1, C) summed-area table of (B, C, H, W) uint8 frames, channels last, exact
    in int32 (int64 when a frame could overflow it), with a zero first row and column.

    On a CPU, OpenCV's ``integral`` makes it: torch's ``cumsum`` over the rows of a channels-last
    1080p frame took 54 ms a call, a fifth of the detector's time (2-core AVX2 VM)."""
    big = images.shape[2] * images.shape[3] * 255 >= 2**31
    if images.device.type == "cpu":
        return _integral_with_opencv(images, big)
    return _integral_with_torch(images, big)


def _integral_with_torch(images: torch.Tensor, big: bool) -> torch.Tensor:
    dtype = torch.int64 if big else torch.int32
    table = images.permute(0, 2, 3, 1).to(dtype)  # cumsum would widen to int64 unless told
    return F.pad(table.cumsum(1, dtype=dtype).cumsum(2, dtype=dtype), (0, 0, 1, 0, 1, 0))


def _integral_with_opencv(images: torch.Tensor, big: bool) -> torch.Tensor:
    import cv2
    import numpy as np

    b, c, h, w = images.shape
    table = torch.empty((b, h + 1, w + 1, c), dtype=torch.int64 if big else torch.int32)
    pixels = images.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        frame = np.ascontiguousarray(pixels[i])
        if big:  # float64 holds these whole sums exactly (below 2**53)
            table[i] = torch.from_numpy(cv2.integral(frame, sdepth=cv2.CV_64F)
                                        .reshape(h + 1, w + 1, c)).to(torch.int64)
        else:  # written in place: no second copy of a 1080p frame's table
            cv2.integral(frame, sum=table[i].numpy(), sdepth=cv2.CV_32S)
    return table


def _bin_edges(length: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``adaptive_avg_pool2d``'s bins of ``length`` pixels into ``size`` cells: cell i averages
    whole pixels floor(i L / size) to ceil((i + 1) L / size) - 1 (starts, ends as table rows)."""
    cell = torch.arange(size + 1, device=device)
    starts = torch.div(cell[:-1] * length, size, rounding_mode="floor")
    ends = -torch.div(-cell[1:] * length, size, rounding_mode="floor")
    return starts, ends


def area_resize(table: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The frames of integral image ``table`` resized to ``h`` x ``w`` as facenet-pytorch's
    ``imresample`` does (``interpolate(mode="area")``, i.e. ``adaptive_avg_pool2d``), as a
    (B, C, h, w) float32 tensor in channels-last memory.

    Each cell's sum is two row gathers and two column gathers of the table, exact in integers,
    then one division: the same bins as the pooling, in a fraction of its time on a CPU (it was
    the detector's largest cost there, 23%)."""
    ys, ye = _bin_edges(table.shape[1] - 1, h, table.device)
    xs, xe = _bin_edges(table.shape[2] - 1, w, table.device)
    rows = table.index_select(1, ye) - table.index_select(1, ys)
    sums = rows.index_select(2, xe) - rows.index_select(2, xs)
    counts = ((ye - ys)[:, None] * (xe - xs)[None, :]).to(torch.float32)
    return (sums.to(torch.float32) / counts[..., None]).permute(0, 3, 1, 2)


def area_enlarge(images: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``area_resize`` for a level at least as large as the (B, 3, H, W) uint8 frames, from
    the frames themselves: the same bits in a third of the time (5 against 14 ms for the
    consumer's 1.2x first level of a 1011-px frame, 2-core CPU).

    Enlarging, each cell's bin spans one or two whole pixels per axis, so the average of its
    four corner pixels (a pixel counted twice where the bin has one) is its exact mean: the
    sum of the corners is the bin's sum times 4 / its pixel count, a small integer, and dividing
    it by 4 rounds as the bin's sum divided by its count does. The gathers read one byte a
    pixel where the integral image holds twelve."""
    ys, ye = _bin_edges(images.shape[2], h, images.device)
    xs, xe = _bin_edges(images.shape[3], w, images.device)
    hwc = images.permute(0, 2, 3, 1)
    rows = hwc.index_select(1, ys).to(torch.int16).add_(hwc.index_select(1, ye - 1))
    sums = rows.index_select(2, xs).add_(rows.index_select(2, xe - 1))
    return torch.div(sums, 4.0).permute(0, 3, 1, 2)


def _crops(table: torch.Tensor, boxes: torch.Tensor, frame: torch.Tensor, w: int, h: int,
           size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised ``size`` x ``size`` crops (channels-last memory) of each box's part inside the
    frame, from the frames' integral image ``table``; with the boxes and frame indices kept.

    facenet-pytorch's ``pad`` truncates the box to whole pixels and clips it to the frame (the
    part outside is dropped, not zero-padded, and the rest stretched to the square); its
    ``imresample`` is ``adaptive_avg_pool2d``: output cell i averages whole input pixels
    floor(i L / size) to ceil((i + 1) L / size) - 1. The integral image at each cell's four
    corners gives those sums exactly, for all boxes of all frames in one gather of whole pixels
    (a gather per corner and channel took 2.7 times as long on a CPU). (``roi_align``, which
    averages bilinear samples instead, moved boxes: a quarter of the matched faces fell below
    IoU 0.9 against stock on the crowd video; this way they match to the last bit.) Boxes left
    with no pixel are dropped (facenet-pytorch skips their crop but keeps the box, which then
    takes the next box's crop)."""
    t = boxes[:, :4].trunc()
    x0 = t[:, 0].clamp(min=1) - 1
    y0 = t[:, 1].clamp(min=1) - 1
    x1 = t[:, 2].clamp(max=w)
    y1 = t[:, 3].clamp(max=h)
    ok = (x1 > x0) & (y1 > y0)
    x0, y0, x1, y1 = x0[ok].long(), y0[ok].long(), x1[ok].long(), y1[ok].long()
    boxes, frame = boxes[ok], frame[ok]
    cell = torch.arange(size + 1, device=boxes.device)
    # cell edges: starts floor(i L / size), ends ceil((i + 1) L / size)
    xs = x0[:, None] + torch.div(cell[:-1] * (x1 - x0)[:, None], size, rounding_mode="floor")
    xe = x0[:, None] - torch.div(-cell[1:] * (x1 - x0)[:, None], size, rounding_mode="floor")
    ys = y0[:, None] + torch.div(cell[:-1] * (y1 - y0)[:, None], size, rounding_mode="floor")
    ye = y0[:, None] - torch.div(-cell[1:] * (y1 - y0)[:, None], size, rounding_mode="floor")
    rows, cols, channels = table.shape[1:]
    # one gather of whole pixels (all channels) for the four corners of every cell: rows of
    # the table flattened to (pixels, C), indexed (corner row, corner column, box, cell y, cell x)
    row_at = torch.stack([ye, ys]) + (frame * rows)[:, None]
    pixel = (row_at * cols)[:, None, :, :, None] + torch.stack([xe, xs])[None, :, :, None, :]
    corner = table.reshape(-1, channels).index_select(0, pixel.reshape(-1)).view(
        *pixel.shape, channels)
    sums = corner[0, 0] - corner[1, 0] - corner[0, 1] + corner[1, 1]
    counts = (ye - ys)[:, :, None] * (xe - xs)[:, None, :]
    crops = (sums.float() / counts[..., None].float() - _MEAN) * _SCALE
    return crops.permute(0, 3, 1, 2), boxes, frame


def _ranks(scores: torch.Tensor) -> torch.Tensor:
    """Scores replaced by distinct values in the same order, ties broken by position: every
    NMS then orders equal scores (PNet saturates at 1.0) the same way whatever else is in the
    batch."""
    order = torch.sort(scores, descending=True, stable=True).indices
    ranks = torch.empty_like(scores)
    ranks[order] = -torch.arange(scores.shape[0], dtype=scores.dtype, device=scores.device)
    return ranks


def nms_by_group(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
                 threshold: float) -> torch.Tensor:
    """Greedy IoU NMS within each group, indices kept by falling score (ties by position).

    Not torchvision's ``batched_nms``: for small inputs it shifts each group's boxes by
    ``group * (largest coordinate + 1)``, and in float32 that shift rounds the coordinates
    (to 0.002 px at a shift of 30,000), so the overlaps, and then the boxes kept, depended on
    the frame's place in the batch and on the other frames' boxes. One ``nms`` per group
    computes each group's overlaps from its own coordinates."""
    ranks = _ranks(scores)
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for group in torch.unique(groups):
        members = torch.nonzero(groups == group).squeeze(1)
        keep[members[nms(boxes[members], ranks[members], threshold)]] = True
    kept = torch.nonzero(keep).squeeze(1)
    return kept[torch.argsort(ranks[kept], descending=True)]


def nms_min(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, threshold: float
            ) -> torch.Tensor:
    """Greedy NMS within each group by intersection over the smaller box (MTCNN's "Min" NMS,
    areas with the +1 of the original code), on the device; indices kept, by falling score.

    Computed as the fixed point of "kept unless a kept, higher-scored box of its group overlaps it
    more than ``threshold``", which equals the greedy sequential result (position i is settled
    after i + 1 rounds) and usually converges in a few rounds."""
    order = torch.sort(scores, descending=True, stable=True).indices
    b, g = boxes[order], groups[order]
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    iw = (torch.minimum(b[:, None, 2], b[None, :, 2])
          - torch.maximum(b[:, None, 0], b[None, :, 0]) + 1).clamp(min=0)
    ih = (torch.minimum(b[:, None, 3], b[None, :, 3])
          - torch.maximum(b[:, None, 1], b[None, :, 1]) + 1).clamp(min=0)
    overlap = iw * ih / torch.minimum(area[:, None], area[None, :])
    n = b.shape[0]
    earlier = torch.ones((n, n), dtype=torch.bool, device=b.device).triu(1)
    suppresses = (overlap > threshold) & (g[:, None] == g[None, :]) & earlier  # [j, i]: j kills i
    keep = torch.ones(n, dtype=torch.bool, device=b.device)
    for _ in range(n):
        new = ~(suppresses & keep[:, None]).any(dim=0)
        if torch.equal(new, keep):
            break
        keep = new
    return order[keep]
