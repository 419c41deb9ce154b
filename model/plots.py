"""PNG figures: training curves and the normalised confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from classpulse.errors import UsageError
from model.preprocess import SMALL_FACE


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_figure_path(path: str | Path, option: str) -> Path:
    """``path`` as a name matplotlib can write a figure to, or a one-line UsageError.

    Why: matplotlib picks the format by the suffix only when it saves, after the work that made
    the figure (a whole evaluation), and one without a suffix it saves as ``NAME.png``, not at
    the path asked for. Nothing is created here.
    """
    from matplotlib.backend_bases import FigureCanvasBase

    path = Path(path)
    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = path.suffix.lower().removeprefix(".")
    if suffix not in formats:
        what = f"a .{suffix} file" if suffix else "a file without a suffix"
        raise UsageError(f"{option} {path}: matplotlib cannot write {what}; give a name ending in "
                         f"one of .{', .'.join(formats)}, such as {path.with_suffix('.png')}")
    return path


def plot_training_curves(history: Sequence[dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch, train against val."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-", label="train (augmented)")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "o-", label="val")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [r["train_acc"] for r in history], "o-", label="train acc (augmented)")
    ax_acc.plot(epochs, [r["val_acc"] for r in history], "o-", label="val acc")
    # a run with a weight average (--ema-epochs) judges the average; show the trained weights too
    trained = [(r["epoch"], float(r["val_acc_trained"]), float(r["val_acc"])) for r in history
               if r.get("val_acc_trained") not in (None, "")]
    if any(t != v for _, t, v in trained):
        ax_acc.plot([e for e, _, _ in trained], [t for _, t, _ in trained], ".--",
                    label="val acc, trained weights (without the average)")
    small = [(r["epoch"], float(r["val_acc_small"])) for r in history
             if r.get("val_acc_small") not in (None, "")]
    if small:
        ax_acc.plot([e for e, _ in small], [a for _, a in small], "s-",
                    label=f"val acc, faces shrunk to {SMALL_FACE} px")
    ax_acc.plot(epochs, [r["val_macro_f1"] for r in history], "o-", label="val macro F1")
    ax_acc.set(xlabel="epoch", ylabel="score", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (each row: where that true class's faces went)."""
    plt = _pyplot()
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
