"""Tests of so101.inference.grid: deterministic grid scenes inside the workspace, disjoint from the other seeds, and the
per-cell report of success and failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from so101.inference.episode import failure_mode
from so101.inference.grid import GridOptions, grid_scenes, grid_table, write_grid_report
from so101.inference.report import EvalEpisode
from so101.inference.seeds import SELECTION_SEEDS, TEST_SEEDS, seed_set
from so101.sim.randomization import RandomizationConfig
from so101.sim.task_signals import TaskSignals

HALF_SIZE = np.array([0.016, 0.032, 0.0115])
RANDOM = RandomizationConfig()


def test_grid_scenes_are_deterministic_inside_the_training_region_and_numbered_apart() -> None:
    options = GridOptions(size=5, yaws=2, bowls=2)
    placements, cells = grid_scenes(options, RANDOM, HALF_SIZE)
    again, _ = grid_scenes(options, RANDOM, HALF_SIZE)
    assert [p.to_json() for p in placements] == [p.to_json() for p in again]
    assert len(placements) == len(cells) == 5 * 5 * 2 * 4  # the regions never overlap: no scene left out
    seeds = [p.seed for p in placements]
    assert len(set(seeds)) == len(seeds) and seed_set(seeds) == "grid"
    assert not set(seeds) & (set(SELECTION_SEEDS) | set(TEST_SEEDS))
    (nx, ny), jitter = RANDOM.brick_nominal_xy, RANDOM.brick_jitter
    xs = sorted({round(p.brick_pos[0], 6) for p in placements})
    ys = sorted({round(p.brick_pos[1], 6) for p in placements})
    assert len(xs) == len(ys) == 5
    assert nx - jitter < xs[0] < xs[-1] < nx + jitter and ny - jitter < ys[0] < ys[-1] < ny + jitter
    assert np.allclose(np.diff(xs), 2 * jitter / 5)
    assert sorted({round(np.degrees(p.brick_yaw)) for p in placements}) == [0, 90]
    bowls = {p.bowl_pos for p in placements}
    assert len(bowls) == 4 and all(RANDOM.bowl_x_range[0] < b[0] < RANDOM.bowl_x_range[1] for b in bowls)
    for placement in placements:
        placement.check_on_table()


def test_a_wider_grid_reaches_past_the_training_region() -> None:
    placements, _ = grid_scenes(GridOptions(size=4, yaws=1, extent=2.0), RANDOM, HALF_SIZE)
    xs = [p.brick_pos[0] for p in placements]
    assert max(xs) > RANDOM.brick_nominal_xy[0] + RANDOM.brick_jitter


def test_bad_grid_options_are_refused() -> None:
    from so101.inference.evaluate_cmd import EvalCommandConfig

    with pytest.raises(ValueError, match=r"--render and --grid\.size cannot be combined"):
        EvalCommandConfig(path=Path("ckpt"), render=True, grid=GridOptions(size=3))
    with pytest.raises(ValueError, match=r"grid\.yaws"):
        GridOptions(size=3, yaws=0)
    with pytest.raises(ValueError, match=r"grid\.extent"):
        GridOptions(size=3, extent=5.0)


@pytest.mark.parametrize(
    ("signals", "mode"),
    [
        (TaskSignals(success=True, ever_grasped=True), ""),
        (TaskSignals(), "not_grasped"),
        (TaskSignals(grasped=True, ever_grasped=True, ever_lifted=True), "time_out"),
        (TaskSignals(in_bowl=True, ever_grasped=True, ever_released_over_bowl=True), "time_out"),
        (TaskSignals(ever_grasped=True, ever_lifted=True, ever_released_over_bowl=True), "released_outside_bowl"),
        (TaskSignals(ever_grasped=True, ever_lifted=True), "dropped"),
    ],
)
def test_failure_modes(signals: TaskSignals, mode: str) -> None:
    assert failure_mode(signals) == mode


def _episode(seed: int, failure: str) -> EvalEpisode:
    return EvalEpisode(seed=seed, success=not failure, grasped=failure != "not_grasped", lifted=False,
                       released_over_bowl=False, steps=10, wall_s=0.1, policy_calls=1, policy_s=0.01, failure=failure)


def test_report_counts_each_cell_and_draws_the_heatmaps(tmp_path: Path) -> None:
    options = GridOptions(size=2, yaws=2)
    _, cells = grid_scenes(options, RANDOM, HALF_SIZE)
    outcomes = ["", "", "not_grasped", "", "dropped", "time_out"]  # cells (0,0) (0,1) (1,0); (1,1) not run
    episodes = [_episode(cell.seed, outcome) for cell, outcome in zip(cells, outcomes, strict=False)]
    table = grid_table(options, cells, episodes)
    assert table["episodes"].tolist() == [[2, 2], [2, 0]]
    assert table["success"][0, 0] == 1.0 and table["success"][0, 1] == 0.5 and table["not_grasped"][0, 1] == 0.5
    assert table["dropped"][1, 0] == 0.5 and table["time_out"][1, 0] == 0.5 and np.isnan(table["success"][1, 1])
    write_grid_report(tmp_path, options, RANDOM, cells, episodes, "test")
    report = json.loads((tmp_path / "grid.json").read_text())
    assert report["per_cell"]["success"] == [[1.0, 0.5], [0.0, None]] and len(report["scenes"]) == 6
    assert (tmp_path / "grid_heatmap.png").stat().st_size > 10_000
