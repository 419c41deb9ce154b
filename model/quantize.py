"""int8 inference on x86 CPUs: ~3x the faces/s of fp32 on a 2-core machine (see benchmarks).

Post-training static quantisation with torch's FX graph mode (x86 backend: per-channel int8
weights, uint8 activations). The activation ranges come from calibrating on training faces at
export time and travel in the weights' metadata as plain numbers, so the int8 network is rebuilt
from the fp16 safetensors at load time: no pickled quantised model, no calibration data needed on
the consumer's machine.
"""

from __future__ import annotations

import json
import logging
import math
import warnings

import torch
from torch import nn
from torch.ao.quantization import QConfig, QConfigMapping, get_default_qconfig_mapping
from torch.ao.quantization.observer import MinMaxObserver
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

log = logging.getLogger(__name__)

BACKEND = "x86"
RANGES_KEY = "int8_activation_ranges"


def _observers(prepared: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in prepared.named_modules()
            if name.startswith("activation_post_process")}


def _prepare(fused: nn.Module, mapping: QConfigMapping, size: int) -> nn.Module:
    example = (torch.zeros(2, 1, size, size),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FX's notices about deprecated quantisation APIs
        return prepare_fx(fused.eval(), mapping, example_inputs=example)


def calibrate(fused: nn.Module, x: torch.Tensor, batch: int = 128) -> str:
    """Activation ranges (JSON) of the fused fp32 network on calibration inputs ``x``."""
    prepared = _prepare(fused, get_default_qconfig_mapping(BACKEND), x.shape[-1])
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            prepared(x[i:i + batch])
    ranges = {}
    for name, obs in _observers(prepared).items():
        scale, zero = obs.calculate_qparams()
        scale, zero = float(scale), int(zero)
        ranges[name] = [(obs.quant_min - zero) * scale, (obs.quant_max - zero) * scale]
    log.info("calibrated int8 activations observers=%d faces=%d", len(ranges), len(x))
    return json.dumps(ranges)


def quantize(fused: nn.Module, ranges_json: str, size: int) -> nn.Module:
    """The int8 network, from the fused fp32 one and the stored activation ranges."""
    torch.backends.quantized.engine = BACKEND
    default = get_default_qconfig_mapping(BACKEND).global_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the x86 default still spells its range reduce_range
        act = default.activation()
    fixed = QConfig(
        activation=MinMaxObserver.with_args(dtype=act.dtype, qscheme=act.qscheme,
                                            quant_min=act.quant_min, quant_max=act.quant_max),
        weight=default.weight,
    )
    mapping = get_default_qconfig_mapping(BACKEND).set_global(fixed)
    prepared = _prepare(fused, mapping, size)
    ranges = json.loads(ranges_json)
    observers = _observers(prepared)
    if set(ranges) != set(observers):
        raise ValueError(f"stored int8 ranges do not match this network: {len(ranges)} ranges, "
                         f"{len(observers)} observers")
    for name, obs in observers.items():
        lo, hi = ranges[name]
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))
                and math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"stored int8 range of {name} is {ranges[name]}, not two finite "
                             "numbers low <= high")
        obs.min_val = torch.tensor(lo)
        obs.max_val = torch.tensor(hi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_fx(prepared).eval()
