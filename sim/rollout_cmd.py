"""``so101 rollout``: headless rollouts of randomized scenes, saved as camera images and a video.

    so101 rollout --scenes 4 --output outputs/rollout

For each scene seed it writes the first frame of every robot camera as PNG and the placement as JSON, and one MP4
of all rollouts (the cameras side by side, the task signals drawn) in which the arm sweeps its joints. Use it to check a machine's headless rendering, to see
what the randomization produces, and to look at the robot cameras before recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim.scene import BrickSize, CameraConfig, SceneConfig


@dataclass
class RolloutConfig:
    output: Path = Path("outputs/rollout")
    scenes: int = 4
    first_seed: int = 0
    seconds: float = 3.0
    """Length of each rollout (s of sim time)."""
    cameras: list[str] = field(default_factory=lambda: ["overhead_cam", "wrist_cam"])
    width: int = 640
    height: int = 480
    render_profile: str = "fast"
    brick: BrickSize = "2x4"
    robot_xml: Path | None = None


def sweep_action(rest: np.ndarray, t: float, period_s: float) -> np.ndarray:
    """A slow sweep of every joint around ``rest`` (dataset units) at time ``t`` (s)."""
    amplitude = np.array([30.0, 15.0, 15.0, 20.0, 60.0, 40.0])
    action = rest + amplitude * np.sin(2.0 * np.pi * t / period_s)
    action[5] = float(np.clip(action[5], 0.0, 100.0))
    return action


def main(argv: list[str]) -> int:
    import draccus
    import imageio.v3 as iio

    from sim.rendering import CameraRenderer
    from sim.simulator import So101Sim
    from sim.video import EpisodeVideo

    cfg = draccus.parse(config_class=RolloutConfig, args=argv)
    cfg.output.mkdir(parents=True, exist_ok=True)
    sim = So101Sim(SceneConfig(robot_xml=cfg.robot_xml, brick=cfg.brick))
    cameras = [CameraConfig(name, cfg.width, cfg.height) for name in cfg.cameras]
    video = EpisodeVideo(cfg.output / "rollout.mp4", sim.fps, height=None)
    with CameraRenderer(sim.model, cameras, cfg.render_profile) as renderer:  # type: ignore[arg-type]
        for seed in range(cfg.first_seed, cfg.first_seed + cfg.scenes):
            rest = sim.reset(seed)
            images = renderer.render(sim.data)
            for name, image in images.items():
                iio.imwrite(cfg.output / f"scene_{seed:03d}_{name}.png", image)
            (cfg.output / f"scene_{seed:03d}.json").write_text(sim.placement.to_json() + "\n")  # type: ignore[union-attr]
            for step in range(round(cfg.seconds * sim.fps)):
                signals = sim.step(sweep_action(rest, step / sim.fps, cfg.seconds))
                video.add(renderer.render(sim.data), signals.as_dict(), sim.steps)
    video.close()
    print(f"{cfg.scenes} scenes: images, placements and {video.path} in {cfg.output}")
    return 0
