"""``so101 vr``: check the OpenXR runtime and headset, or practise driving the arm in VR without recording.

    so101 vr --check                       # runtime, headset, views, refresh rate, GL binding, controllers, verdict
    so101 vr                               # practice: the scene in the headset, the controller drives the arm
    XR_RUNTIME_JSON=/path/to/openxr_monado.json so101 vr --check --vr.graphics egl

Practice runs episodes like ``so101 record --teleop vr`` but writes nothing: A (Enter) starts one, the stop button
(Y, or Q in the mirror window) ends the session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from so101.command import run_command
from so101.errors import ConfigError
from so101.sim.options import SceneOptions
from so101.teleop.vr.headset import VRConfig

CHECK_FRAMES_S = 1.0
"""How long ``--check`` runs the frame loop to measure the frame rate (s)."""


@dataclass
class VRCommandConfig:
    """Options of ``so101 vr``."""

    check: bool = False
    """Print what the runtime and headset offer, render frames for a second, and give a verdict."""
    vr: VRConfig = field(default_factory=VRConfig)
    """The headset and controllers (``--vr.graphics``, ``--vr.hand``, ``--vr.motion_scale``...)."""
    scene: SceneOptions = field(default_factory=SceneOptions)
    episode_time_s: float = 60.0
    """Longest practice episode (s)."""
    seed: int = 0
    """Scene seed of the first practice episode."""

    def __post_init__(self) -> None:
        if self.episode_time_s <= 0:
            raise ConfigError("episode_time_s", self.episode_time_s, "must be positive")


def rendered_rate(frames: int, seconds: float, display_hz: float) -> float:
    """Frames rendered per second over ``seconds``, at most the display's rate: a frame waits for its display
    slot, so a count over a window that starts and ends between frames can exceed it (21 of 20 frames/s) by the
    window's edges only."""
    return min(frames / seconds, display_hz) if seconds > 0 else 0.0


def check(cfg: VRCommandConfig) -> int:
    """Body of ``so101 vr --check``: prints the report; 0 when the headset is ready for recording, else 1."""
    from so101.sim.simulator import So101Sim
    from so101.teleop.vr.headset import Headset
    from so101.teleop.vr.runtime_info import runtime_info

    sim = So101Sim(cfg.scene.scene_config())
    sim.reset(cfg.seed)
    headset = Headset(cfg.vr, sim)
    try:
        focused = headset.start()
        info = runtime_info(headset.session)
        view = info.views[0]
        print(f"runtime: {info.runtime} {info.version}")
        print(f"system: {info.system} (vendor {info.vendor_id}), tracking {info.tracking}")
        print(
            f"view configuration: {info.view_configuration}, {len(info.views)} views, recommended "
            f"{view.recommended[0]}x{view.recommended[1]} per eye (max {view.maximum[0]}x{view.maximum[1]}), "
            f"{view.samples} sample(s)"
        )
        frames_before, start = headset.view.rendered, time.perf_counter()
        while time.perf_counter() - start < CHECK_FRAMES_S and not headset.session.ended:
            headset.view.draw_wait()
            headset.sample()  # syncing the actions makes the runtime bind an interaction profile
        rendered = headset.view.rendered - frames_before
        display_hz = info.refresh_rate_hz or 1.0 / headset.session.display_period_s
        rate = rendered_rate(rendered, time.perf_counter() - start, display_hz)
        source = "reported" if info.refresh_rate_hz else "from the predicted display period"
        cpu = np.median(headset.view.render_ms[-rendered:]) if rendered else float("nan")
        print(f"refresh rate: {display_hz:.1f} Hz ({source}); rendered {rate:.1f} frames/s, {cpu:.1f} ms CPU each "
              f"(render profile {cfg.vr.render_profile})")
        binding = {"egl": "XR_MNDX_egl_enable (EGL)", "glx": "XR_KHR_opengl_enable (GLX/Xlib)",
                   "wgl": "XR_KHR_opengl_enable (WGL)"}[info.graphics]  # fmt: skip
        mirror = "mirror window" if headset.session.gl is not None and headset.session.gl.window else "no mirror"
        print(f"graphics: {info.graphics}: {binding}, {mirror}; reference space {info.reference_space}")
        profile = headset.interaction_profile()
        print(f"interaction profile ({cfg.vr.hand} hand): {profile or 'none bound yet'}")
        problems = []
        if not focused:
            problems.append("the session never got focus (put the headset on; close the runtime's menu)")
        if rendered == 0:
            problems.append("no frame was rendered")
        if not profile:
            problems.append(f"no controller bound to the {cfg.vr.hand} hand (turn it on, or use --vr.hand)")
        if problems:
            print("verdict: NOT READY: " + "; ".join(problems))
            return 1
        advice = ""
        if rate < 0.9 * display_hz:
            advice = "; frames are slower than the display" + (
                ": try --vr.render_profile fast" if cfg.vr.render_profile == "quality" else ": use a faster GPU"
            )
        print(f"verdict: ready for VR recording ({rate:.0f} of {display_hz:.0f} frames/s rendered{advice})")
        return 0
    finally:
        headset.close()


def practice(cfg: VRCommandConfig) -> int:
    """Body of ``so101 vr``: episodes in the headset, recording nothing, until the user stops."""
    from so101.recording.episode_loop import EpisodeLoopConfig, Outcome, run_episode
    from so101.sim.simulator import So101Sim
    from so101.teleop.vr.source import VRTeleop

    sim = So101Sim(cfg.scene.scene_config())
    source = VRTeleop(cfg.vr)
    loop = EpisodeLoopConfig(cfg.episode_time_s)
    seed = cfg.seed
    try:
        while True:
            placement = sim.sample_placement(seed)
            sim.reset(placement)
            if not source.wait_for_start(sim):
                break
            result = run_episode(sim, source, placement, loop)
            source.say(f"vr: seed {seed}: {result.outcome.value} after {result.frames / sim.fps:.1f} s")
            if result.outcome is Outcome.STOPPED:
                break
            if result.outcome is not Outcome.RERECORD:
                source.episode_ended(kept=True)
                seed += 1
    finally:
        source.close()
    return 0


def _vr_command(cfg: VRCommandConfig) -> int:
    return check(cfg) if cfg.check else practice(cfg)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``so101 vr``; returns the exit status (2: no runtime, no headset, no GL binding)."""
    return run_command("vr", VRCommandConfig, _vr_command, argv)
