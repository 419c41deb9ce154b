"""``classpulse model train | pack | evaluate | export``: parsers here; torch loads in the
handlers."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from classpulse.flags import add_device_flag, positive_int
from model.options import CALIBRATION_FACES, DEFAULT_SPLIT, PRECISIONS

if TYPE_CHECKING:
    from classpulse.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="train, evaluate and export the emotion network")
    sub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    _register_train(sub)
    _register_pack(sub)
    _register_evaluate(sub)
    _register_export(sub)


def _seed(text: str) -> int:
    """A random seed: a whole number >= 0 (NumPy's generators take no negative seed, and would
    refuse one only after the data were read, or a whole evaluation ran)."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"--seed takes a whole number >= 0, got {text!r}")
    return seed


# --option -> (TrainConfig field, type, help); the defaults come from model.recipes
_TRAIN_OPTIONS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "--epochs": ("epochs", int, "epochs to train"),
    "--batch-size": ("batch_size", int, "faces per optimizer step"),
    "--lr": ("lr", float, "peak learning rate (at --lr-batch when that is set)"),
    "--lr-batch": ("lr_batch", int, "the batch --lr is meant for; scaled linearly to "
                   "--batch-size (0: not scaled)"),
    "--weight-decay": ("weight_decay", float, "weight decay"),
    "--warmup-epochs": ("warmup_epochs", float, "epochs of linear learning-rate warm-up"),
    "--plateau-patience": ("plateau_patience", int, "plateau schedule: epochs without a better "
                           "val accuracy before the learning rate is cut"),
    "--label-smoothing": ("label_smoothing", float, "label smoothing"),
    "--dropout": ("dropout", float, "dropout of the dense head"),
    "--patience": ("patience", int, "early-stopping patience in epochs"),
    "--ema-epochs": ("ema_epochs", float, "half-life in epochs of the weight average that val "
                     "judges and export ships (0: off)"),
    "--time-budget": ("time_budget_s", float, "seconds: start no epoch that would end later "
                      "(0: no limit); best.pt is then the best epoch so far"),
    "--save-every": ("save_every", int, "epochs between writes of last.pt and the curves"),
    "--seed": ("seed", _seed, "random seed"),
    "--size": ("size", int, "input side in pixels"),
    "--threads": ("threads", int, "CPU threads for torch"),
    "--limit-train": ("limit_train", int, "use only N training faces"),
    "--limit-val": ("limit_val", int, "use only N val faces"),
}


def _register_train(sub: argparse._SubParsersAction) -> None:
    from model.recipes import RECIPES, TrainConfig, recipe_default

    p = sub.add_parser("train", help="train VGG16-BN on FER2013",
                       description="Train the emotion network on FER2013 (image folders, CSV or "
                       "a 'model pack' file). Writes best.pt at every better val epoch, and "
                       "last.pt, metrics.csv and curves.png every --save-every epochs, to --out. "
                       "A --recipe sets every default; options given change it.")
    p.add_argument("--data", required=True,
                   help="FER2013 root (train/ and val/ folders), CSV or pack (.npz)")
    p.add_argument("--out", required=True, help="run folder for checkpoints, metrics and curves")
    p.add_argument("--recipe", default=None, choices=tuple(RECIPES),
                   help="adamw: the CPU recipe of the shipped weights; sgd300: the published "
                   f"300-epoch SGD-Nesterov recipe, for a GPU (default {TrainConfig.recipe})")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt with the configuration saved in it; of the "
                   f"options, only {', '.join(_resumable())} may change it")
    p.add_argument("--force", action="store_true",
                   help="start afresh in an --out that holds an earlier run's last.pt or best.pt, "
                   "deleting that run's checkpoints, metrics.csv and curves.png")
    p.add_argument("--init", default=None,
                   help="none (from scratch), imagenet (torchvision's ImageNet VGG16-BN, read "
                   "from torch's hub cache or --init-file; never downloaded), or a "
                   "FILE of our own weights (.safetensors or checkpoint .pt) "
                   f"({_defaults(lambda r: recipe_default(r, 'init'))})")
    p.add_argument("--init-file", default=None,
                   help="the ImageNet checkpoint vgg16_bn-6c64b313.pth when not in torch's "
                   "hub cache (--init imagenet without it names the path to put it at)")
    for option, (name, kind, text) in _TRAIN_OPTIONS.items():
        p.add_argument(option, dest=name, type=kind, default=None,
                       help=f"{text} ({_defaults(lambda r, n=name: recipe_default(r, n))})")
    lows = _defaults(lambda r: recipe_default(r, "augmentation").low_res)
    p.add_argument("--low-res", type=float, default=None, metavar="P",
                   help="shrink this fraction of the training faces to a random 12-44 px side "
                   f"and enlarge them back, as small classroom faces are ({lows})")
    rooms = _defaults(lambda r: recipe_default(r, "augmentation").classroom)
    p.add_argument("--classroom", type=float, default=None, metavar="P",
                   help="warp this fraction of the training faces as a camera above the class "
                   f"sees a bowed head ({rooms})")
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None,
                   help="train in fp32 (default: bf16 autocast on CUDA and on CPUs with native "
                   "bf16)")
    add_device_flag(p)
    p.set_defaults(handler=run_train)


def _resumable() -> list[str]:
    from model.recipes import RESUMABLE, train_option

    return [train_option(name) for name in RESUMABLE if name != "out"]


def _defaults(value: Callable[[str], object]) -> str:
    """'default X', or 'default: adamw X, sgd300 Y' where the recipes differ."""
    from model.recipes import RECIPES

    values = {r: value(r) for r in RECIPES}
    if len({repr(v) for v in values.values()}) == 1:
        return f"default {next(iter(values.values()))}"
    return "default: " + ", ".join(f"{r} {v}" for r, v in values.items())


def _register_pack(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pack", help="FER2013 train and val in one small file, for a GPU machine",
                       description="Pack FER2013's train (JPEG quality 80) and val (95) as two "
                       "gray mosaics in one .npz that 'model train --data' reads (model/pack.py "
                       "says why lossy, and how much).")
    p.add_argument("--data", required=True, help="FER2013 root (train/ and val/ folders) or CSV")
    p.add_argument("--out", required=True, help="the .npz file to write")
    p.set_defaults(handler=run_pack)


def _register_evaluate(sub: argparse._SubParsersAction) -> None:
    from model.class_level import SEED, SPLITS

    p = sub.add_parser("evaluate", help="accuracy, per-class P/R/F1 and confusion matrix",
                       description="Evaluate emotion weights on a FER2013 split.")
    p.add_argument("--data", required=True,
                   help="FER2013 root, one split folder (<emotion>/*.jpg), the CSV, or a "
                   "'model pack' file (.npz)")
    p.add_argument("--split", default=None, choices=("train", "val", "test"),
                   help="split to read from a root folder, CSV or pack (default "
                   f"{DEFAULT_SPLIT}); a split folder named train, val or test is that split, "
                   "and a contradicting --split is refused")
    p.add_argument("--weights", dest="model_weights", default=None,
                   help="safetensors weights (default: the shipped weights)")
    p.add_argument("--json", default=None, help="write the metrics to this JSON file")
    p.add_argument("--plot", default=None,
                   help="write the normalised confusion matrix to this image file, in the format "
                   "its suffix names (.png, .svg, .pdf, ...)")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test-time augmentation: average each face with its mirror image "
                   "(default: as the consumers run with --class-level, none otherwise)")
    p.add_argument("--tilt", type=_tilt, default=None, metavar="T",
                   help="warp every face as a camera above the class sees a bowed head, "
                   "strength T (0.2 slight, 0.4 strong; the classroom augmentation's range)")
    p.add_argument("--ten-crop", action="store_true",
                   help="test-time augmentation: average ten views (corner and centre crops "
                   "and their mirrors; 10x the work), in place of flip TTA: not with "
                   "--tta/--no-tta")
    p.add_argument("--class-level", action="store_true",
                   help="also the error of per-minute emotion shares (N = 20, 60, 200 faces; "
                   "classroom-like and uniform mixes): argmax counting against the "
                   "confusion-corrected estimate, on held-out halves of the split, counting "
                   "only faces the gate's GATE_MIN_CONFIDENCE reads, with the consumers' TTA; "
                   "mean and range over --splits random splits into halves, and each "
                   "emotion's signed error; with --face-size or a view, also corrected with a "
                   "confusion fitted at full size (one more classifier pass)")
    p.add_argument("--splits", type=positive_int, default=None,
                   help="--class-level: random splits of the faces into halves, each a full "
                   f"simulation (default {SPLITS})")
    p.add_argument("--seed", type=_seed, default=None,
                   help=f"--class-level: seed of the splits and minutes (default {SEED})")
    p.add_argument("--face-size", type=_face_size, default=None, metavar="PX",
                   help="first shrink every face to PX pixels a side, as small as classroom CCTV "
                   "records faces (15-40 px), to measure the network on that little detail")
    for name, what in (("pitch", "top toward the camera, as seen from a camera above or a head "
                               "bowed over a desk"),
                       ("yaw", "turned aside"), ("roll", "tilted in the image plane")):
        p.add_argument(f"--{name}", type=_degrees, default=0.0, metavar="DEG",
                       help=f"first turn every face DEG degrees: {what} (-80 to 80)")
    p.add_argument("--batch-size", type=positive_int, default=256,
                   help="faces per forward pass (default 256)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
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


def _tilt(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 0.5:  # model.preprocess.tilt_grid: about 0.5 is strongly bowed
        raise argparse.ArgumentTypeError(f"--tilt takes a strength from 0 to 0.5 (0.2 slight, "
                                         f"0.4 strong), got {text!r}")
    return value


def _degrees(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not -80.0 <= value <= 80.0:
        raise argparse.ArgumentTypeError(f"a view angle takes degrees from -80 to 80, got {text!r}")
    return value


def _register_export(sub: argparse._SubParsersAction) -> None:
    from model.card import DEFAULT_WEIGHTS, WEIGHTS_DIR

    shipped = DEFAULT_WEIGHTS.relative_to(WEIGHTS_DIR.parent.parent)  # model/weights/...
    p = sub.add_parser("export", help="training checkpoint -> fp16 safetensors with metadata")
    p.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a training run")
    p.add_argument("--out", default=None,
                   help=f"safetensors file, never the --checkpoint (default: {shipped.as_posix()})")
    p.add_argument("--calibrate", default=None, metavar="DATA",
                   help="FER2013 root, CSV or 'model pack' file (.npz): store int8 activation "
                   f"ranges measured on {CALIBRATION_FACES} train faces")
    p.add_argument("--force", action="store_true",
                   help="without --calibrate, replace an --out that holds int8 ranges anyway "
                   "(CPU consumers of the new file then run in fp32, about 3x slower)")
    p.set_defaults(handler=run_export)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from classpulse.errors import UsageError
    from model.recipes import TrainConfig, recipe_config
    from model.train import main, resume

    # only what the user typed: a resume must tell an option given from a recipe's default
    given = {name: getattr(args, name) for name, _, _ in _TRAIN_OPTIONS.values()}
    given |= {"recipe": args.recipe, "init": args.init, "init_file": args.init_file,
              "amp": args.amp}
    given = {k: v for k, v in given.items() if v is not None}
    mix = {k: v for k, v in (("low_res", args.low_res), ("classroom", args.classroom))
           if v is not None}
    for name, value in mix.items():
        if not 0.0 <= value <= 1.0:
            option = "--" + name.replace("_", "-")
            raise UsageError(f"{option} is a probability from 0 to 1, got {value}")
    if args.resume and args.force:
        raise UsageError("--resume continues the run in --out and --force starts a new one over "
                         "it; give one of them")
    if args.resume:
        best = resume(args.out, {**given, **mix, "data": args.data, "device": settings.device})
    else:
        cfg = recipe_config(given.pop("recipe", TrainConfig.recipe), args.data, args.out,
                            device=settings.device, **given)
        best = main(replace(cfg, augmentation=replace(cfg.augmentation, **mix)), force=args.force)
    if best:
        print(f"best epoch {best['epoch']}: val accuracy {best['val_acc']:.4f}, "
              f"macro F1 {best['val_macro_f1']:.4f}; checkpoints in {args.out}")
    return 0


def run_pack(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from model.pack import pack_fer

    counts = pack_fer(Path(args.data), Path(args.out))
    size = Path(args.out).stat().st_size
    print(f"wrote {args.out}: {size / 1e6:.1f} MB, " +
          ", ".join(f"{split} {n} faces" for split, n in counts.items()))
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from model.evaluate import evaluate_command

    return evaluate_command(args, settings)


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from model.export import export_checkpoint, export_path

    replaced = export_path(args.out).exists()
    path = export_checkpoint(args.checkpoint, args.out, args.calibrate, force=args.force)
    print(f"wrote {path}" + (", replacing the file that was there" if replaced else ""))
    return 0
