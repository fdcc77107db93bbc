"""``so101 rollout``: headless rollouts of randomized scenes, saved as camera images and a video.

    so101 rollout --scenes 4 --output outputs/rollout
    so101 rollout --cameras.names [overhead_cam,front_cam] --cameras.render_profile quality

For each scene seed it writes the first frame of every robot camera as PNG and the placement as JSON, and one MP4
of all rollouts (the cameras side by side, the task signals drawn) in which the arm sweeps its joints. Use it to
check a machine's headless rendering, to see what the randomization produces, and to look at the robot cameras
before recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.sim.options import CameraOptions, SceneOptions


@dataclass
class RolloutConfig:
    """Options of ``so101 rollout``."""

    output: Path = Path("outputs/rollout")
    """Folder for the images, the placements and rollout.mp4 (created when missing)."""
    scenes: int = 4
    """Number of scenes, one rollout each (seeds first_seed, first_seed + 1, ...)."""
    first_seed: int = 0
    """Seed of the first scene."""
    seconds: float = 3.0
    """Length of each rollout (s of sim time)."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    cameras: CameraOptions = field(default_factory=CameraOptions)

    def __post_init__(self) -> None:
        if self.scenes < 1:
            raise ConfigError("scenes", self.scenes, "must be at least 1")
        if self.first_seed < 0:
            raise ConfigError("first_seed", self.first_seed, "must not be negative")
        if not self.seconds > 0:
            raise ConfigError("seconds", self.seconds, "must be positive")
        if self.output.exists() and not self.output.is_dir():
            raise ValueError(f"--output {self.output} is a file; name a folder")


def sweep_action(start: np.ndarray, t: float, period_s: float) -> np.ndarray:
    """A slow sweep of every joint around ``start`` (dataset units) at time ``t`` (s)."""
    amplitude = np.array([30.0, 15.0, 15.0, 20.0, 60.0, 40.0])
    action = start + amplitude * np.sin(2.0 * np.pi * t / period_s)
    action[5] = float(np.clip(action[5], 0.0, 100.0))
    return action


def rollout(cfg: RolloutConfig) -> int:
    """Roll out ``cfg.scenes`` scenes and write their images, placements and video to ``cfg.output``."""
    import imageio.v3 as iio

    from so101.sim.rendering import CameraRenderer
    from so101.sim.simulator import So101Sim
    from so101.sim.video import EpisodeVideo

    sim = So101Sim(cfg.scene.scene_config())
    cfg.output.mkdir(parents=True, exist_ok=True)
    video = EpisodeVideo(cfg.output / "rollout.mp4", sim.fps, height=None)
    try:
        with CameraRenderer(sim.model, cfg.cameras.configs(), cfg.cameras.render_profile) as renderer:
            for seed in range(cfg.first_seed, cfg.first_seed + cfg.scenes):
                start = sim.reset(seed)
                for name, image in renderer.render(sim.data).items():
                    iio.imwrite(cfg.output / f"scene_{seed:03d}_{name}.png", image)
                (cfg.output / f"scene_{seed:03d}.json").write_text(sim.placement.to_json() + "\n")  # type: ignore[union-attr]
                for step in range(round(cfg.seconds * sim.fps)):
                    signals = sim.step(sweep_action(start, step / sim.fps, cfg.seconds))
                    video.add(renderer.render(sim.data), signals.as_dict(), sim.steps)
    finally:
        video.close()
    print(f"{cfg.scenes} scenes: images, placements and {video.path} in {cfg.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command("rollout", RolloutConfig, rollout, argv)
