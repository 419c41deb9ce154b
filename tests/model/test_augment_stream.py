"""The batched augmentation draws the very random stream the per-draw one did: the same numbers
from the CPU generator, in the same order, and the same augmented faces, so runs, resumes and the
older recipes' legs reproduce. ``_reference_augment`` is the per-draw code as it was (each draw
copied to the device on its own), kept here only to compare against."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from model.preprocess import Augmentation, _resample_stack, augment_batch, tilt_grid
from model.recipes import RECIPES

ONLY_LOW_RES = Augmentation(rotation_deg=0, scale=(1, 1), translate=0, flip=0, brightness=0,
                            contrast=0, erase=0, low_res=1.0)
SETTINGS = {
    "default (adamw)": Augmentation(),
    "sgd300": RECIPES["sgd300"]["augmentation"],
    "legs 1-4 (no low res)": Augmentation(low_res=0.0),
    "no erase, classroom": Augmentation(erase=0.0, classroom=0.5, classroom_tilt=0.3),
    "only low res, narrow sides": replace(ONLY_LOW_RES, low_res=0.5, low_res_sides=(20, 30)),
    "nothing random but the affine": Augmentation(erase=0.0, low_res=0.0, classroom=0.0),
    "everything always": Augmentation(flip=1.0, erase=1.0, low_res=1.0, classroom=1.0),
}


def _reference_augment(x: torch.Tensor, gen: torch.Generator, aug: Augmentation
                       ) -> torch.Tensor:
    n = x.shape[0]
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(n, generator=gen) * (hi - lo) + lo).to(dev)

    angle = uniform(-aug.rotation_deg, aug.rotation_deg) * (math.pi / 180.0)
    scale = uniform(*aug.scale)
    flip = torch.where(uniform(0.0, 1.0) < aug.flip, -1.0, 1.0)
    tx, ty = uniform(-aug.translate, aug.translate) * 2, uniform(-aug.translate, aug.translate) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, tx], dim=1),
        torch.stack([sin * flip, cos, ty], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if aug.classroom > 0:
        pick = uniform(0.0, 1.0) < aug.classroom
        tilt = torch.where(pick, uniform(0.0, aug.classroom_tilt), 0.0)
        grid = tilt_grid(grid, tilt)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    contrast = uniform(1.0 - aug.contrast, 1.0 + aug.contrast).view(n, 1, 1, 1)
    brightness = uniform(-aug.brightness, aug.brightness).view(n, 1, 1, 1)
    out = out * contrast + brightness
    if aug.erase > 0:
        out = _reference_erase(out, gen, aug.erase)
    if aug.low_res > 0:
        out = _reference_low_res(out, gen, aug.low_res, aug.low_res_sides)
    return out


def _reference_low_res(x: torch.Tensor, gen: torch.Generator, p: float, sides: tuple[int, int]
                       ) -> torch.Tensor:
    n, _, h, w = x.shape
    pick = torch.rand(n, generator=gen) < p
    side = torch.randint(sides[0], sides[1] + 1, (n,), generator=gen)
    index = (side - sides[0]).to(x.device)
    rows = _resample_stack(h, *sides).to(x.device, x.dtype)[index]
    cols = _resample_stack(w, *sides).to(x.device, x.dtype)[index]
    blurred = rows.unsqueeze(1) @ x @ cols.unsqueeze(1).transpose(-1, -2)
    return torch.where(pick.to(x.device).view(n, 1, 1, 1), blurred, x)


def _reference_erase(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    n, _, h, w = x.shape
    pick = torch.rand(n, generator=gen) < p
    area = torch.rand(n, generator=gen) * 0.18 + 0.02
    ratio = torch.exp(torch.rand(n, generator=gen) * 1.6 - 0.8)
    eh = (torch.sqrt(area * ratio) * h).clamp(1, h).long()
    ew = (torch.sqrt(area / ratio) * w).clamp(1, w).long()
    top = (torch.rand(n, generator=gen) * (h - eh + 1).float()).long()
    left = (torch.rand(n, generator=gen) * (w - ew + 1).float()).long()
    top, left, eh, ew, pick = (t.to(x.device).view(n, 1, 1) for t in (top, left, eh, ew, pick))
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    mask = ((rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew) & pick)
    return x.masked_fill(mask.unsqueeze(1), 0.0)


def _faces(n: int, size: int) -> torch.Tensor:
    """Normalised-looking faces (N, 1, S, S) from their own generator: no data needed."""
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(99))


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize(("n", "size"), [(37, 48), (16, 32)])
def test_batched_draws_give_the_per_draw_augmentation_bit_for_bit(name: str, n: int,
                                                                  size: int) -> None:
    """Three consecutive batches for each of three seeds: identical faces, and the generator
    left in the identical state after each batch (the next batch, or a resume, draws on from
    the same place)."""
    aug = SETTINGS[name]
    x = _faces(n, size)
    for seed in (0, 1, 12345):
        new_gen, old_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        for _ in range(3):
            new, old = augment_batch(x, new_gen, aug), _reference_augment(x, old_gen, aug)
            assert torch.equal(new, old), (name, seed)
            assert torch.equal(new_gen.get_state(), old_gen.get_state()), (name, seed)


def test_a_zero_strength_draws_nothing_for_it() -> None:
    """The classroom view, erasing and low resolution at 0 take no numbers from the stream:
    what lets legs trained before each existed reproduce."""
    x = _faces(8, 48)
    everything = Augmentation(erase=0.5, low_res=0.5, classroom=0.5)
    for off in ({"classroom": 0.0}, {"erase": 0.0}, {"low_res": 0.0}):
        aug = replace(everything, **off)
        a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        augment_batch(x, a, aug)
        _reference_augment(x, b, aug)
        assert torch.equal(a.get_state(), b.get_state()), off
    plain, spent = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    augment_batch(x, plain, Augmentation(erase=0.0, low_res=0.0, classroom=0.0))
    torch.rand(8 * 7, generator=spent)  # the affine's 5 draws, contrast, brightness
    assert torch.equal(plain.get_state(), spent.get_state())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_augmentation_never_waits_for_it() -> None:
    """No host sync in a batch's augmentation (after the first, which copies the low-res
    matrices to the GPU once), and the stream it draws is the CPU run's."""
    aug = RECIPES["sgd300"]["augmentation"]
    x = _faces(64, 48).cuda()
    gen = torch.Generator().manual_seed(3)
    augment_batch(x, gen, aug)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = augment_batch(x, gen, aug)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    cpu_gen = torch.Generator().manual_seed(3)
    for _ in range(2):
        on_cpu = augment_batch(x.cpu(), cpu_gen, aug)
    assert torch.equal(gen.get_state(), cpu_gen.get_state())
    assert torch.allclose(out.cpu(), on_cpu, atol=1e-3)
