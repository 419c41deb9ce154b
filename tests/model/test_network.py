"""The network's shapes, BN folding, ImageNet initialisation and the weights file round trip."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from torchvision.models import VGG16_BN_Weights, vgg16_bn
from torchvision.models.vgg import cfgs, make_layers

from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.network import build_network, fuse_for_inference, load_imagenet_features
from model.preprocess import Preprocessing
from model.weights_io import load_weights, preprocessing_from, save_weights


def _net_with_bn_statistics() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network()
    net.train()
    with torch.no_grad():
        for _ in range(3):  # give the batch norms non-trivial running statistics
            net(torch.randn(16, 1, 48, 48) * 2 + 0.5)
    return net.eval()


def test_output_shapes() -> None:
    net = build_network().eval()
    with torch.inference_mode():
        assert net(torch.zeros(3, 1, 48, 48)).shape == (3, 7)
        assert net(torch.zeros(2, 1, 64, 64)).shape == (2, 7)  # input size is configurable
    assert net.features[0].in_channels == 1


def test_fused_network_matches_unfused() -> None:
    net = _net_with_bn_statistics()
    x = torch.randn(8, 1, 48, 48)
    with torch.inference_mode():
        expected = net(x)
        fused = fuse_for_inference(net)
        got = fused(x.contiguous(memory_format=torch.channels_last))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_imagenet_features_sum_rgb_kernels(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = vgg16_bn(weights=None).state_dict()
    torch.save(reference, tmp_path / "vgg16_bn.pth")
    net = build_network()
    load_imagenet_features(net, tmp_path / "vgg16_bn.pth")
    torch.testing.assert_close(net.features[0].weight,
                               reference["features.0.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(net.features[40].weight, reference["features.40.weight"])


def test_imagenet_file_missing_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "vgg16_bn-6c64b313.pth"
    with pytest.raises(UsageError, match=r"vgg16_bn-6c64b313\.pth"):
        load_imagenet_features(build_network(), missing)


def test_imagenet_weights_are_read_from_the_hub_cache_and_never_downloaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No download at run time: without the file in torch's hub cache, one line names the exact
    path torchvision would have downloaded it to; with it there, it is read from there."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))

    def download(*args: object, **kwargs: object) -> None:
        pytest.fail("downloaded at run time")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    cached = hub / "checkpoints" / Path(urlparse(VGG16_BN_Weights.IMAGENET1K_V1.url).path).name
    with pytest.raises(UsageError) as err:
        load_imagenet_features(build_network())
    message = str(err.value)
    assert f"put it at {cached} (torch's hub cache), or pass --init-file FILE" in message
    assert "\n" not in message
    torch.manual_seed(2)
    features = make_layers(cfgs["D"], batch_norm=True).state_dict()
    cached.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in features.items()}, cached)
    net = build_network()
    load_imagenet_features(net)
    torch.testing.assert_close(net.features[0].weight, features["0.weight"].sum(1, keepdim=True))
    torch.testing.assert_close(net.features[40].weight, features["40.weight"])


def test_weights_round_trip_fp16_with_metadata(tmp_path: Path) -> None:
    net = _net_with_bn_statistics()
    path = tmp_path / "w.safetensors"
    save_weights(net.state_dict(), path, Preprocessing(size=48), {"epochs": 3},
                 {"accuracy": 0.5})
    state, meta = load_weights(path)
    assert json.loads(meta["classes"]) == list(EMOTIONS)
    assert json.loads(meta["recipe"]) == {"epochs": 3}
    assert preprocessing_from(meta) == Preprocessing()
    for key, value in net.state_dict().items():
        assert state[key].dtype == value.dtype
        torch.testing.assert_close(state[key], value.to(torch.float16).to(value.dtype))


def test_weights_not_safetensors_is_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(UsageError, match="not a readable safetensors"):
        load_weights(bad)
    with pytest.raises(UsageError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")


def test_int8_ranges_round_trip_through_metadata() -> None:
    """Ranges calibrated once, stored as JSON, rebuild an int8 network close to fp32."""
    from model.quantize import calibrate, quantize

    net = _net_with_bn_statistics()
    fused = fuse_for_inference(net)
    x = torch.randn(64, 1, 48, 48)
    ranges = calibrate(fused, x)
    assert all(hi > lo for lo, hi in json.loads(ranges).values())
    q = quantize(fused, ranges, 48)
    with torch.inference_mode():
        expected = torch.softmax(fused(x[:16]), 1)
        got = torch.softmax(q(x[:16]), 1)
    assert (got - expected).abs().max() < 0.05


def test_a_refused_imagenet_init_leaves_no_run_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`model train --init imagenet` without the file refused, but only after making --out: an
    empty run folder was left behind. The refusal now comes first."""
    from classpulse.cli import main

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    out = tmp_path / "runs" / "first"
    assert main(["model", "train", "--data", str(tmp_path / "no-data"), "--init", "imagenet",
                 "--out", str(out), "--epochs", "1", "--device", "cpu"]) == 2
    assert not out.exists()
