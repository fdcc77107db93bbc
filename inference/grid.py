"""Spatial generalization: the brick on an N x N grid over the workspace, and where a policy fails.

Random test scenes give one success rate; they do not say *where* a policy works. ``so101 eval CKPT --grid.size 7``
places the brick at the centre of each cell of a 7 x 7 grid over the region the training scenes drew it from
(``--grid.extent 1.5``: a region 1.5 times as wide, to see past the training distribution), at ``--grid.yaws``
orientations per cell and with the bowl at ``--grid.bowls`` x ``--grid.bowls`` positions over its region. Grid
scenes are deterministic (no random numbers) and numbered from ``so101.inference.seeds.GRID_SEEDS``, apart from the
selection and test seeds.

The report (``grid.json``, ``grid_heatmap.png``) gives per cell the success rate and the rate of each failure mode of
``so101.inference.episode.failure_mode``: never grasped, dropped, released outside the bowl, time-out.
Frame: world (the table top at the arm's base, +x forward, +z up); metres; yaw in degrees about +z.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from so101.errors import ConfigError
from so101.inference.episode import FAILURE_MODES
from so101.inference.report import EvalEpisode
from so101.inference.seeds import GRID_SEEDS
from so101.sim.randomization import RandomizationConfig, ScenePlacement
from so101.sim.scene import BOWL_OUTER_RADIUS


@dataclass
class GridOptions:
    """Grid evaluation (``--grid.*``); off unless ``--grid.size`` is given."""

    size: int = 0
    """Brick positions per side of the grid (N x N cells); 0: no grid evaluation."""
    yaws: int = 2
    """Brick orientations per cell, evenly spaced over the training yaw range (2: 0 and 90 degrees of a symmetric
    brick's 180)."""
    bowls: int = 1
    """Bowl positions per side over its region (1: its centre; 2: its four corners)."""
    extent: float = 1.0
    """Width of the brick's grid region relative to the training region (1.0: exactly it; 1.5: half as wide again)."""

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ConfigError("grid.size", self.size, "must be at least 0 (0: no grid)")
        for name in ("yaws", "bowls"):
            if getattr(self, name) < 1:
                raise ConfigError(f"grid.{name}", getattr(self, name), "must be at least 1")
        if not 0.1 <= self.extent <= 3.0:
            raise ConfigError("grid.extent", self.extent, "must be in 0.1..3.0 (relative to the training region)")
        if self.size * self.size * self.yaws * self.bowls * self.bowls > len(GRID_SEEDS):
            raise ConfigError("grid.size", self.size, f"gives more scenes than the {len(GRID_SEEDS)} grid numbers")

    @property
    def enabled(self) -> bool:
        return self.size > 0


@dataclass
class GridCell:
    """One grid scene: which cell, orientation and bowl position it is."""

    seed: int
    row: int
    """Index along world y (0: smallest y)."""
    col: int
    """Index along world x (0: smallest x)."""
    yaw_deg: float
    bowl: int
    """Index of the bowl position (row-major over the bowl grid)."""


def _centres(low: float, high: float, n: int) -> np.ndarray:
    """Centres of ``n`` equal cells over ``[low, high]``."""
    edges = np.linspace(low, high, n + 1)
    return (edges[:-1] + edges[1:]) / 2


def grid_scenes(
    options: GridOptions, randomization: RandomizationConfig, brick_half_size: np.ndarray
) -> tuple[list[ScenePlacement], list[GridCell]]:
    """The grid's placements and cells, in a fixed order (bowl, row, column, yaw); scenes whose brick would touch
    the bowl are left out (their cell shows no result)."""
    half = randomization.brick_jitter * options.extent
    nominal_x, nominal_y = randomization.brick_nominal_xy
    xs = _centres(nominal_x - half, nominal_x + half, options.size)
    ys = _centres(nominal_y - half, nominal_y + half, options.size)
    # Evenly over the training yaws, at most 180 degrees of them: both bricks look the same turned by 180.
    yaw_range = randomization.brick_yaw_range_deg
    span = min(2 * yaw_range, 180.0)
    start = 0.0 if span == 180.0 else -yaw_range
    yaws = [start + span * k / options.yaws for k in range(options.yaws)]
    bowl_xs = _centres(*randomization.bowl_x_range, options.bowls)
    bowl_ys = _centres(*randomization.bowl_y_range, options.bowls)
    bowl_positions = [(bx, by) for by in bowl_ys for bx in bowl_xs]
    brick_radius = float(np.hypot(brick_half_size[0], brick_half_size[1]))
    placements: list[ScenePlacement] = []
    cells: list[GridCell] = []
    number = GRID_SEEDS.start
    for bowl, (bx, by) in enumerate(bowl_positions):
        for row, y in enumerate(ys):
            for col, x in enumerate(xs):
                for yaw in yaws:
                    seed, number = number, number + 1
                    if math.hypot(x - bx, y - by) < BOWL_OUTER_RADIUS + brick_radius + randomization.min_clearance:
                        continue
                    placements.append(ScenePlacement(
                        seed=seed,
                        brick_pos=(float(x), float(y), float(brick_half_size[2])),
                        brick_yaw=math.radians(yaw),
                        bowl_pos=(float(bx), float(by), 0.0),
                    ))
                    cells.append(GridCell(seed, row, col, float(yaw), bowl))
    return placements, cells


def grid_table(
    options: GridOptions, cells: list[GridCell], episodes: list[EvalEpisode]
) -> dict[str, np.ndarray]:
    """Per cell (rows: y, columns: x), the number of episodes and the rate of success and of each failure mode;
    NaN where no scene ran."""
    by_seed = {episode.seed: episode for episode in episodes}
    shape = (options.size, options.size)
    counts = np.zeros(shape)
    tallies = {name: np.zeros(shape) for name in ("success", *FAILURE_MODES)}
    for cell in cells:
        episode = by_seed.get(cell.seed)
        if episode is None:
            continue
        counts[cell.row, cell.col] += 1
        tallies["success" if episode.success else episode.failure][cell.row, cell.col] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {name: np.where(counts > 0, tally / counts, np.nan) for name, tally in tallies.items()}
    return {"episodes": counts, **rates}


def write_grid_report(
    output: Path, options: GridOptions, randomization: RandomizationConfig, cells: list[GridCell],
    episodes: list[EvalEpisode], title: str,
) -> dict[str, np.ndarray]:
    """Write ``grid.json`` (cells, per-cell rates, every episode) and ``grid_heatmap.png`` into ``output``."""
    table = grid_table(options, cells, episodes)
    half = randomization.brick_jitter * options.extent
    nominal_x, nominal_y = randomization.brick_nominal_xy
    region = {"x": [nominal_x - half, nominal_x + half], "y": [nominal_y - half, nominal_y + half]}
    output.mkdir(parents=True, exist_ok=True)
    by_seed = {episode.seed: episode for episode in episodes}
    payload = {
        "options": asdict(options),
        "brick_region_m": region,
        "training_region_m": {
            "x": [nominal_x - randomization.brick_jitter, nominal_x + randomization.brick_jitter],
            "y": [nominal_y - randomization.brick_jitter, nominal_y + randomization.brick_jitter],
        },
        "success_rate": float(np.mean([e.success for e in episodes])) if episodes else None,
        "per_cell": {name: np.where(np.isnan(v), None, v).tolist() for name, v in table.items()},
        "scenes": [{**asdict(cell), **asdict(by_seed[cell.seed])} for cell in cells if cell.seed in by_seed],
    }
    (output / "grid.json").write_text(json.dumps(payload, indent=2))
    plot_grid(output / "grid_heatmap.png", table, region, title)
    return table


def plot_grid(path: Path, table: dict[str, np.ndarray], region: dict[str, list[float]], title: str) -> None:
    """Heatmaps of success and of each failure mode over the brick's position (top view, x forward up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["success", *FAILURE_MODES]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.6), constrained_layout=True)
    # Top view as a person stands behind the arm: +x (forward) up, +y (left) to the left.
    extent = (region["y"][1] * 100, region["y"][0] * 100, region["x"][0] * 100, region["x"][1] * 100)
    for axis, name in zip(axes, names, strict=True):
        rates = table[name].T[:, ::-1]  # rows: x, columns: y decreasing to the right
        image = axis.imshow(rates, origin="lower", extent=extent, vmin=0, vmax=1,
                            cmap="viridis" if name == "success" else "magma")
        size = rates.shape[0]
        for i in range(size):
            for j in range(size):
                if not np.isnan(rates[i, j]):
                    y = extent[0] + (extent[1] - extent[0]) * (j + 0.5) / size
                    x = extent[2] + (extent[3] - extent[2]) * (i + 0.5) / size
                    axis.text(y, x, f"{rates[i, j]:.0%}", ha="center", va="center", fontsize=6,
                              color="white" if rates[i, j] < 0.6 else "black")
        axis.set_title(name.replace("_", " "))
        axis.set_xlabel("brick y (cm)")
        axis.set_ylabel("brick x (cm)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="rate")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
