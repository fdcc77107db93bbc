"""``so101 view``: look at the scene in a window, re-randomize it, switch between the robot cameras.

    so101 view --seed 3
    so101 view --scene.robot_xml ~/so101_new_calib.xml      # the official model, if you have it on disk
    xvfb-run -a so101 view --frames 60 --screenshot scene.png   # save a frame and exit, without a desktop

Physics runs at the control rate (``--scene.fps``) on the control-loop clock; the window draws at its own rate
between control ticks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from so101.command import run_command
from so101.errors import ConfigError
from so101.sim.options import SceneOptions
from so101.sim.rendering import RenderProfile


@dataclass
class ViewConfig:
    """Options of ``so101 view``."""

    seed: int = 0
    """Scene seed; R draws the next one."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    window_width: int = 1280
    """Window width (pixels)."""
    window_height: int = 720
    """Window height (pixels)."""
    window_profile: RenderProfile = "quality"
    """Render profile of the window: ``quality`` (shadows, antialiasing) or ``fast`` (for software GL)."""
    frames: int | None = None
    """Close after the window has drawn this many frames (for scripted screenshots); default: run until the window
    is closed."""
    screenshot: Path | None = None
    """Save the last frame shown to this PNG file."""

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError("seed", self.seed, "must not be negative")
        if self.window_width < 16 or self.window_height < 16:
            raise ValueError(
                f"--window_width and --window_height must be at least 16, got {self.window_width}x{self.window_height}"
            )
        if self.frames is not None and self.frames < 1:
            raise ConfigError("frames", self.frames, "must be at least 1")
        if self.screenshot is not None and self.screenshot.suffix.lower() != ".png":
            raise ValueError(f"--screenshot names a .png file, got {self.screenshot}")


def view(cfg: ViewConfig) -> int:
    """Show the scene until the window is closed (or ``cfg.frames`` frames were drawn)."""
    import glfw

    from so101.sim.control_loop import ControlClock
    from so101.sim.simulator import So101Sim
    from so101.sim.viewer import Viewer

    sim = So101Sim(cfg.scene.scene_config())
    seed = cfg.seed
    sim.reset(seed)
    viewer = Viewer(sim, "so101 view", cfg.window_width, cfg.window_height, cfg.window_profile)
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
    clock = ControlClock(sim.fps, view=viewer)
    try:
        while not viewer.should_close and (cfg.frames is None or clock.stats.frames < cfg.frames):
            if not paused:
                sim.step(sim.commanded_targets())
            signals = sim.signals
            viewer.status_lines = [
                f"seed {seed}   t = {sim.steps * sim.control_dt:5.2f} s{'   (paused)' if paused else ''}",
                f"grasped {signals.grasped}  lifted {signals.lifted}  over bowl {signals.over_bowl}  "
                f"success {signals.success}",
            ]
            clock.wait()
        print(f"physics at {sim.fps} Hz: {clock.summary()}")
        if cfg.screenshot is not None:
            cfg.screenshot.parent.mkdir(parents=True, exist_ok=True)
            viewer.save_screenshot(cfg.screenshot)
            print(f"saved {cfg.screenshot}")
    finally:
        viewer.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command("view", ViewConfig, view, argv)
