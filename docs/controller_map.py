"""Draws docs/controller_map.png: what each controller button does in a VR recording session.

    python docs/controller_map.py          (writes docs/controller_map.png next to this file)

The labels come from ``teleop/vr/actions.py`` (the Touch layout; other controllers map onto it as its table says).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch

OUT = Path(__file__).with_name("controller_map.png")
BODY, BUTTON, ACCENT, TEXT = "#3b3f46", "#d9dde3", "#f0b429", "#1f2328"


def controller(ax: plt.Axes, x: float, mirror: bool, buttons: tuple[str, str]) -> dict[str, tuple[float, float]]:
    """One Touch-like controller seen from above, centred at ``x``; returns where each control is."""
    side = -1.0 if mirror else 1.0
    ax.add_patch(Ellipse((x, 3.2), 2.6, 2.2, color=BODY))  # the head with the face buttons
    ax.add_patch(FancyBboxPatch((x - 0.45, 0.2), 0.9, 2.4, boxstyle="round,pad=0.2", color=BODY))  # the handle
    ax.add_patch(Ellipse((x, 3.2), 3.2, 2.8, fill=False, lw=6, color="#6b7280"))  # the tracking ring
    stick = (x - 0.45 * side, 3.55)
    first, second = (x + 0.3 * side, 2.8), (x + 0.65 * side, 3.45)
    ax.add_patch(Circle(stick, 0.3, color="#111827"))
    for (bx, by), label in zip((first, second), buttons, strict=True):
        ax.add_patch(Circle((bx, by), 0.22, color=BUTTON))
        ax.text(bx, by, label, ha="center", va="center", fontsize=9, weight="bold", color=TEXT)
    trigger, grip = (x + 0.1 * side, 4.55), (x - 0.5 * side, 1.5)
    ax.add_patch(FancyBboxPatch((trigger[0] - 0.35, trigger[1] - 0.15), 0.7, 0.3, boxstyle="round,pad=0.05",
                                color=ACCENT))  # fmt: skip
    ax.add_patch(FancyBboxPatch((grip[0] - 0.15, grip[1] - 0.6), 0.3, 1.2, boxstyle="round,pad=0.05", color=ACCENT))
    return {"stick": stick, "first": first, "second": second, "trigger": trigger, "grip": grip}


def label(ax: plt.Axes, at: tuple[float, float], text: str, to: tuple[float, float], align: str) -> None:
    ax.annotate(text, xy=at, xytext=to, ha=align, va="center", fontsize=10.5, color=TEXT,
                arrowprops={"arrowstyle": "-", "color": "#9ca3af", "lw": 1.2})  # fmt: skip


def main() -> None:
    fig, ax = plt.subplots(figsize=(11, 5.6), dpi=110)
    ax.set_xlim(-8.5, 8.5)
    ax.set_ylim(-1.9, 6.4)
    ax.set_aspect("equal")
    ax.axis("off")
    left = controller(ax, -2.6, mirror=True, buttons=("X", "Y"))
    right = controller(ax, 2.6, mirror=False, buttons=("A", "B"))
    ax.text(-2.6, 6.0, "LEFT", ha="center", fontsize=12, weight="bold", color=TEXT)
    ax.text(2.6, 6.0, "RIGHT (drives the arm)", ha="center", fontsize=12, weight="bold", color=TEXT)
    label(ax, left["first"], "X  recenter the workspace\n     (keyboard: C)", (-8.3, 2.3), "left")
    label(ax, left["second"], "Y  stop the session\n     (keyboard: Q / Esc)", (-8.3, 3.9), "left")
    label(ax, right["first"], "A  start / save the episode\n    (keyboard: Enter)", (8.3, 2.3), "right")
    label(ax, right["second"], "B  re-record the episode\n    (keyboard: Backspace)", (8.3, 3.9), "right")
    label(ax, right["trigger"], "trigger: close the gripper\n(released: open; keyboard: G)", (8.3, 5.0), "right")
    label(ax, right["grip"], "grip (hold): clutch; the arm follows\nthe hand x motion_scale (keyboard: Space)",
          (8.3, -0.3), "right")  # fmt: skip
    ax.text(0.0, -1.4, "Index: same places (left A/B = recenter/stop).  Vive: right menu = start/save, left menu = "
            "re-record, left trackpad = recenter.  Simple controller: select = clutch, right/left menu = start/save, "
            "re-record.", ha="center", fontsize=8.5, color="#4b5563", wrap=True)  # fmt: skip
    fig.tight_layout()
    fig.savefig(OUT, facecolor="white")


if __name__ == "__main__":
    main()
