"""``so101 rollout`` writes camera images, placements and a video of random scenes; bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest

from so101.sim.randomization import ScenePlacement
from so101.sim.rollout_cmd import main


def test_rollout_writes_images_placements_and_video(tmp_path: Path) -> None:
    out = tmp_path / "rollout"
    assert main(["--output", str(out), "--scenes", "2", "--first_seed", "5", "--seconds", "0.2",
                 "--cameras.width", "96", "--cameras.height", "72"]) == 0  # fmt: skip
    for seed in (5, 6):
        assert iio.imread(out / f"scene_{seed:03d}_overhead_cam.png").shape == (72, 96, 3)
        assert iio.imread(out / f"scene_{seed:03d}_wrist_cam.png").shape == (72, 96, 3)
        placement = ScenePlacement.from_json((out / f"scene_{seed:03d}.json").read_text())
        assert placement.seed == seed
    frames = iio.imread(out / "rollout.mp4", plugin="pyav")
    assert frames.shape == (2 * 6, 72, 192, 3)
    assert json.loads((out / "scene_005.json").read_text())["seed"] == 5


OTHER_ARM = '<mujoco><worldbody><body name="base"><joint name="j1"/><geom size="0.1"/></body></worldbody></mujoco>'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scene.robot_xml", "{tmp}/other_arm.xml"], "lacks the joints"),
        (["--scene.robot_xml", "{tmp}/missing.xml"], "missing.xml does not exist"),
        (["--cameras.names", "[side_cam]"], "unknown camera 'side_cam'"),
        (["--cameras.width", "-10"], "--cameras.width and --cameras.height must be at least 16"),
        (["--cameras.render_profile", "ultra"], "'ultra' is not one of fast, quality"),
        (["--scenes", "-1"], "--scenes must be at least 1, got -1"),
        (["--seconds", "0"], "--seconds must be positive"),
        (["--first_seed", "-1"], "--first_seed must not be negative"),
        (["--width", "96"], "unknown option --width"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "other_arm.xml").write_text(OTHER_ARM)
    argv = ["--output", str(tmp_path / "out"), "--seconds", "0.1", *(a.format(tmp=tmp_path) for a in args)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("so101 rollout: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out" / "rollout.mp4").exists()
