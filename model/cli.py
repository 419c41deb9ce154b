"""``classpulse model train | evaluate | export``: parsers here; torch loads in the handlers."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from classpulse.flags import add_device_flag

if TYPE_CHECKING:
    from classpulse.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="train, evaluate and export the emotion network")
    sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    _register_train(sub)
    _register_evaluate(sub)
    _register_export(sub)


def _register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train VGG16-BN on FER2013",
                       description="Train the emotion network on FER2013 (image folders or CSV). "
                       "Writes last.pt/best.pt every epoch, metrics.csv and curves.png to --out.")
    p.add_argument("--data", required=True, help="FER2013 root (train/ and val/ folders) or CSV")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics and curves")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--init", default="none",
                   help="none (from scratch), imagenet (torchvision ImageNet VGG16-BN), or a "
                   "FILE of our own weights (.safetensors or checkpoint .pt)")
    p.add_argument("--init-file", default=None,
                   help="the ImageNet checkpoint vgg16_bn-6c64b313.pth when not in the torch cache")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--patience", type=int, default=6, help="early-stopping patience in epochs")
    p.add_argument("--ema-epochs", type=float, default=1.0, metavar="H",
                   help="keep a moving average of the weights with a half-life of H epochs; "
                   "val judges and export ships the average (default 1; 0: off)")
    p.add_argument("--low-res", type=float, default=0.5, metavar="P",
                   help="shrink this fraction of the training faces to a random 12-44 px side "
                   "and enlarge them back, as small classroom faces are (default 0.5; 0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=48, help="input side in pixels")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="train in fp32 (default: fp16 autocast on CUDA, bf16 on CPU)")
    p.add_argument("--limit-train", type=int, default=None, help="use only N training faces")
    p.add_argument("--limit-val", type=int, default=None, help="use only N val faces")
    add_device_flag(p)
    p.set_defaults(handler=run_train)


def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy, per-class P/R/F1 and confusion matrix",
                       description="Evaluate emotion weights on a FER2013 split.")
    p.add_argument("--data", required=True,
                   help="FER2013 root, one split folder (<emotion>/*.jpg) or the CSV")
    p.add_argument("--split", default="val", choices=("train", "val", "test"),
                   help="split to read from a root folder or CSV (default val)")
    p.add_argument("--weights", dest="model_weights", default=None,
                   help="safetensors weights (default: the shipped weights)")
    p.add_argument("--json", default=None, help="write the metrics to this JSON file")
    p.add_argument("--plot", default=None, help="write the normalised confusion matrix PNG")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average with the mirrored face")
    p.add_argument("--face-size", type=_face_size, default=None, metavar="PX",
                   help="first shrink every face to PX pixels a side, as small as classroom CCTV "
                   "records faces (15-40 px), to measure the network on that little detail")
    for name, what in (("pitch", "tipped away at the top, as seen from a camera above or a head "
                               "bowed over a desk"),
                       ("yaw", "turned aside"), ("roll", "tilted in the image plane")):
        p.add_argument(f"--{name}", type=_degrees, default=0.0, metavar="DEG",
                       help=f"first turn every face DEG degrees: {what} (0-80)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                   help="inference precision (auto: fp16 on CUDA, int8 on CPU when the weights "
                   "carry int8 ranges, else fp32)")
    add_device_flag(p)
    p.set_defaults(handler=run_evaluate)


def _face_size(text: str) -> int:
    try:
        side = int(text)
    except ValueError:
        side = 0
    if side < 4:
        raise argparse.ArgumentTypeError(f"--face-size takes a whole number of pixels >= 4, "
                                         f"got {text!r}")
    return side


def _degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -80.0 <= value <= 80.0:
        raise argparse.ArgumentTypeError(f"a view angle takes degrees from -80 to 80, got {text!r}")
    return value


def _register_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="training checkpoint -> fp16 safetensors with metadata")
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a training run")
    p.add_argument("--out", default=None,
                   help="safetensors file (default: model/weights/emotion_vgg16.safetensors)")
    p.add_argument("--calibrate", default=None, metavar="DATA",
                   help="FER2013 root: store int8 activation ranges measured on 512 train faces")
    p.set_defaults(handler=run_export)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from model.preprocess import Augmentation
    from model.train import TrainConfig, main

    if not 0.0 <= args.low_res <= 1.0:
        from classpulse.errors import UsageError

        raise UsageError(f"--low-res is a probability from 0 to 1, got {args.low_res}")
    cfg = TrainConfig(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
        dropout=args.dropout, patience=args.patience, seed=args.seed, size=args.size,
        init=args.init, init_file=args.init_file, device=settings.device, amp=args.amp,
        threads=args.threads, limit_train=args.limit_train, limit_val=args.limit_val,
        ema_epochs=args.ema_epochs, augmentation=Augmentation(low_res=args.low_res),
    )
    best = main(cfg, resume=args.resume)
    if best:
        print(f"best epoch {best['epoch']}: val accuracy {best['val_acc']:.4f}, "
              f"macro F1 {best['val_macro_f1']:.4f}; checkpoints in {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from model.evaluate import evaluate_command

    return evaluate_command(args, settings)


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from model.export import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.out, args.calibrate)
    print(f"wrote {path}")
    return 0
