"""The two figures of a training run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import numpy as np

__all__ = ["learning_curve", "force_parity"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    return plt


def learning_curve(history: list, path, title: str = "") -> None:
    """Loss per optimizer step (log scale) to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss"] for h in history], lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title or "learning curve")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def force_parity(true: np.ndarray, pred: np.ndarray, path, title: str = "") -> None:
    """Predicted against reference force components to ``path``."""
    plt = _pyplot()
    true, pred = np.ravel(true), np.ravel(pred)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(true, pred, s=2, alpha=0.4)
    lim = float(max(np.abs(true).max(), np.abs(pred).max())) * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("reference force (eV/A)")
    ax.set_ylabel("predicted force (eV/A)")
    ax.set_title(title or "force parity (test)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
