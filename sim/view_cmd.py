"""``so101 view``: look at the scene in a window, re-randomize it, switch between the robot cameras.

    so101 view --seed 3
    so101 view --robot_xml ~/so101_new_calib.xml      # the official model, if you have it on disk
    so101 view --frames 60 --screenshot scene.png     # save a frame and exit (works under xvfb-run)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sim.scene import BrickSize, SceneConfig


@dataclass
class ViewConfig:
    seed: int = 0
    """Scene seed; R draws the next one."""
    brick: BrickSize = "2x4"
    robot_xml: Path | None = None
    """Another SO-101 MJCF with LeRobot's joint names, e.g. TheRobotStudio's so101_new_calib.xml."""
    render_profile: str = "quality"
    width: int = 1280
    height: int = 720
    frames: int | None = None
    """Close after this many frames (for scripted screenshots); default: run until the window is closed."""
    screenshot: Path | None = None
    """Save the last frame shown to this PNG file."""


def main(argv: list[str]) -> int:
    import draccus
    import glfw

    from sim.simulator import So101Sim
    from sim.viewer import Viewer

    cfg = draccus.parse(config_class=ViewConfig, args=argv)
    sim = So101Sim(SceneConfig(robot_xml=cfg.robot_xml, brick=cfg.brick))
    seed = cfg.seed
    sim.reset(seed)
    viewer = Viewer(sim, title="so101 view", width=cfg.width, height=cfg.height, profile=cfg.render_profile)  # type: ignore[arg-type]
    paused = False

    def new_scene() -> None:
        nonlocal seed
        seed += 1
        sim.reset(seed)

    def toggle_pause() -> None:
        nonlocal paused
        paused = not paused

    viewer.add_key(glfw.KEY_R, "R  new random scene", new_scene)
    viewer.add_key(glfw.KEY_BACKSPACE, "Backspace  reset this scene", lambda: sim.reset(seed))
    viewer.add_key(glfw.KEY_SPACE, "Space  pause physics", toggle_pause)
    frame = 0
    next_step = time.perf_counter()
    try:
        while not viewer.should_close and (cfg.frames is None or frame < cfg.frames):
            if not paused:
                sim.step(sim.commanded_targets())
            signals = sim.signals
            viewer.status_lines = [
                f"seed {seed}   t = {sim.steps * sim.control_dt:5.2f} s{'   (paused)' if paused else ''}",
                f"grasped {signals.grasped}  lifted {signals.lifted}  over bowl {signals.over_bowl}  "
                f"success {signals.success}",
            ]
            viewer.draw()
            frame += 1
            next_step += sim.control_dt
            time.sleep(max(0.0, next_step - time.perf_counter()))
        if cfg.screenshot is not None:
            viewer.save_screenshot(cfg.screenshot)
            print(f"saved {cfg.screenshot}")
    finally:
        viewer.shutdown()
    return 0
