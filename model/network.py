"""The emotion network: torchvision's batch-norm VGG16 with a small dense head for seven classes.

Why ``vgg16_bn`` and not plain ``vgg16``: plain VGG16 only trains reliably from ImageNet weights
(from scratch it stalls without careful initialisation), while the batch-norm variant trains from
scratch in a few epochs and fine-tunes from ImageNet just as well. At inference the batch norms are
folded into the convolutions (``fuse_for_inference``), so they cost nothing.

The input is one grayscale channel. Rather than copying the gray image into three channels, the
first convolution takes one channel; when starting from ImageNet its kernels are the sum of the RGB
kernels, which is exactly what the three-channel copy would compute, for a third of the work.

At 48x48 the five max-pools leave a 1x1x512 map. torchvision's head would tile it to 7x7 and feed
25,088 numbers to a 4096-wide layer (100M parameters of copies); instead the map is pooled to 1x1
and fed to two dense layers with dropout, as in the original VGG-on-FER2013 studies.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models.vgg import VGG16_BN_Weights, cfgs, make_layers

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError

log = logging.getLogger(__name__)

# torchvision's ImageNet VGG16-BN, and the name torch.hub.load_state_dict_from_url gives it in
# the hub cache (the last part of the URL's path): vgg16_bn-6c64b313.pth
IMAGENET_URL = VGG16_BN_Weights.IMAGENET1K_V1.url
IMAGENET_FILE = Path(urlparse(IMAGENET_URL).path).name


class EmotionVGG(nn.Module):
    """VGG16-BN features (one input channel) -> global pool -> dense head -> 7 logits."""

    def __init__(self, num_classes: int = len(EMOTIONS), hidden: int = 1024,
                 dropout: float = 0.5) -> None:
        super().__init__()
        # torchvision's VGG16-BN layers alone: building the whole vgg16_bn for its features drew
        # the 120 M random weights of a head we do not use (2 s on two cores)
        features = make_layers(cfgs["D"], batch_norm=True)
        first = features[0]
        features[0] = nn.Conv2d(1, first.out_channels, kernel_size=3, padding=1)
        self.features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


def build_network(dropout: float = 0.5) -> EmotionVGG:
    """A freshly initialised network (``--init none``)."""
    return EmotionVGG(dropout=dropout)


def network_from_state(state: dict[str, torch.Tensor]) -> EmotionVGG:
    """The network holding ``state``'s tensors, built without initialising it first: drawing
    16 M random weights only to overwrite them took 2 s of every classifier's start on 2 CPU
    cores. ``state`` must hold every tensor (``load_weights`` checks that)."""
    with torch.device("meta"):
        net = EmotionVGG()
    net.load_state_dict(state, assign=True)
    return net


def imagenet_checkpoint_path(hub_dir: Path | None = None) -> Path:
    """Where torchvision keeps the ImageNet VGG16-BN checkpoint in torch's hub cache
    (``torch.hub.get_dir()/checkpoints/``), and so where ``--init imagenet`` looks for it."""
    home = Path(hub_dir) if hub_dir else Path(torch.hub.get_dir())
    return home / "checkpoints" / IMAGENET_FILE


def load_imagenet_features(net: EmotionVGG, file: Path | None = None) -> None:
    """Copy torchvision's ImageNet VGG16-BN convolution weights into ``net``.

    Reads ``file`` if given, else the file in torch's hub cache; downloads nothing (ClassPulse
    fetches nothing at run time: a training run must not depend on, or wait for, the network).
    Without the file, raises one line naming the exact path to put it at.
    """
    path = Path(file) if file else imagenet_checkpoint_path()
    if not path.is_file():
        where = "" if file else " (torch's hub cache), or pass --init-file FILE"
        raise UsageError(f"ImageNet weights file {path} not found; classpulse downloads nothing "
                         f"at run time: download {IMAGENET_URL} and put it at {path}{where}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        raise UsageError(f"{path} holds no VGG16-BN 'features.*' weights; is it {IMAGENET_FILE}?")
    features["0.weight"] = features["0.weight"].sum(dim=1, keepdim=True)
    missing, unexpected = net.features.load_state_dict(features, strict=False)
    if missing or unexpected:
        raise UsageError(f"{path} does not match VGG16-BN: missing {missing}, "
                         f"unexpected {unexpected}")
    log.info("loaded ImageNet features file=%s", path)


def fuse_for_inference(net: EmotionVGG) -> nn.Module:
    """Return an eval-mode copy with every BatchNorm folded into the convolution before it.

    Same outputs (to float rounding), 13 fewer layers to run: worth ~20% on a CPU.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = net.eval()
    layers: list[nn.Module] = []
    modules = list(net.features)
    i = 0
    while i < len(modules):
        m = modules[i]
        if (isinstance(m, nn.Conv2d) and i + 1 < len(modules)
                and isinstance(modules[i + 1], nn.BatchNorm2d)):
            layers.append(fuse_conv_bn_eval(m, modules[i + 1]))
            i += 2
        else:
            layers.append(m)
            i += 1
    fused = nn.Sequential(*layers, copy.deepcopy(net.pool), copy.deepcopy(net.head))
    return fused.eval()
