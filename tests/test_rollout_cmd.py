"""``so101 rollout`` writes camera images, placements and a video of random scenes."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio

from sim.randomization import ScenePlacement
from sim.rollout_cmd import main


def test_rollout_writes_images_placements_and_video(tmp_path: Path) -> None:
    out = tmp_path / "rollout"
    assert main(["--output", str(out), "--scenes", "2", "--first_seed", "5", "--seconds", "0.2",
                 "--width", "96", "--height", "72"]) == 0  # fmt: skip
    for seed in (5, 6):
        assert iio.imread(out / f"scene_{seed:03d}_overhead_cam.png").shape == (72, 96, 3)
        assert iio.imread(out / f"scene_{seed:03d}_wrist_cam.png").shape == (72, 96, 3)
        placement = ScenePlacement.from_json((out / f"scene_{seed:03d}.json").read_text())
        assert placement.seed == seed
    frames = iio.imread(out / "rollout.mp4", plugin="pyav")
    assert frames.shape == (2 * 6, 72, 192, 3)
    assert json.loads((out / "scene_005.json").read_text())["seed"] == 5
