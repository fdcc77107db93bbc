"""The run of ``so101 deploy``: load, connect, preflight, then episodes on the control clock, recorded.

``Deployment`` owns the follower, the dataset and the dry-run arm, and lets go of them in that order on any exit:
torque off first, then the dataset finalized (every saved episode stays valid), then the simulated arm. Ctrl-C,
SIGTERM and SIGHUP all take that path (``so101.inference.deploy_signals``); the last line printed says whether the
torque was read back off (``so101.inference.deploy_release``). A follower unplugged mid-run ends it with one line,
exit 1.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from so101.inference.deploy_preflight import (
    TrainingReference,
    check_camera_views,
    check_cameras,
    check_start_pose,
    check_task,
    check_timing,
    check_units,
    conclude,
    nearest_start,
)
from so101.inference.deploy_release import BUS_ERRORS, Released, bus_lost, release
from so101.inference.deploy_robot import DryRunArm, connect_follower, joint_action, joint_state
from so101.inference.deploy_safety import EmergencyStop, SafetyLayer, SafetyStop, Watchdog
from so101.inference.deploy_signals import signals_held, signals_interrupt
from so101.kinematics.units import JOINT_FEATURE_NAMES

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lerobot.robots.so_follower import SO101Follower

    from so101.inference.deploy import DeployConfig
    from so101.inference.policy_runner import PolicyRunner
    from so101.inference.policy_spaces import PolicySpaces
    from so101.recording.dataset_writer import DatasetWriter

SIGNAL_NAMES = {"SIGINT": "Ctrl-C", "SIGTERM": "SIGTERM", "SIGHUP": "SIGHUP: the terminal was closed"}
"""How the stop signals are named to the user."""
POLICY_ACTION = "policy.action"
"""The raw policy action of each frame, beside ``action`` (what was sent after the safety layer). LeRobot 0.4.4's
``dataset_to_policy_features`` takes every key starting with ``action`` for a policy output and every key starting
with ``observation`` for an input; a name starting with neither is neither, so a policy trained on a deployment
dataset learns the sent ``action`` from the real inputs only."""

"""The scene of an episode on the real arm: not known to the workbench."""


def policy_action_feature(action_names: list[str]) -> dict[str, dict[str, Any]]:
    """The feature a deployment records beside LeRobot's standard ones: the raw policy action, ``action_names``."""
    return {POLICY_ACTION: {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)}}


def say(line: str) -> None:
    """Print a line of the exit path; a terminal that hung up (SIGHUP) cannot show it, and must not stop it."""
    with contextlib.suppress(OSError):
        print(line, flush=True)


def camera_images(observation: dict[str, Any], names: list[str]) -> dict[str, np.ndarray]:
    """The camera frames of a follower observation, by camera name."""
    return {name: np.asarray(observation[name]) for name in names}


def warm_up(runner: PolicyRunner, state: np.ndarray, images: dict[str, np.ndarray], calls: int) -> float:
    """Median seconds of ``calls`` - 1 policy calls on the live observation (the first warms up, not counted)."""
    durations = []
    for _ in range(calls):
        runner.reset()
        runner.act(state, images)
        durations.append(runner.timing.durations_s[-1])
    runner.reset()
    return statistics.median(durations[1:])


class Deployment:
    """One ``so101 deploy`` run; use as a context manager so that everything is released on any exit."""

    def __init__(self, cfg: DeployConfig) -> None:
        self.cfg = cfg
        self.robot: SO101Follower | None = None
        self.writer: DatasetWriter | None = None
        self.dry: DryRunArm | None = None
        self.spaces: PolicySpaces | None = None
        """Joints <-> the policy's spaces (end-effector policies through the FK and the IK); set by the preflight."""
        self.released: Released | None = None
        """What the release at exit verified; None when no follower was connected."""

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        with signals_held():
            try:
                if self.robot is not None:
                    self.released = release(self.robot)
            finally:
                try:
                    if self.writer is not None:
                        self.writer.finalize()
                finally:
                    if self.dry is not None:
                        self.dry.close()
                    if self.released is not None:
                        say(self.released.line())

    def run(self) -> int:
        """Preflight, then the episodes: 0 when every episode ran, 1 after a safety stop or a lost bus, 130 when
        interrupted (Ctrl-C, SIGTERM, SIGHUP)."""
        try:
            with signals_interrupt():
                self._run()
        except SafetyStop as reason:
            say(f"stopped: {reason}")
            return 1
        except KeyboardInterrupt as interrupt:
            how = SIGNAL_NAMES.get(str(interrupt), "Ctrl-C")
            say(f"stopped: interrupted ({how}); the episodes saved before are kept, an episode in progress is not")
            return 130
        except BUS_ERRORS as error:
            if self.robot is None or not bus_lost(error, self.robot.bus.port):
                raise
            say(
                f"stopped: the follower's bus on {self.robot.bus.port} was lost ({' '.join(str(error).split())}); "
                "check its USB cable and adapter; the episodes saved before are kept, the one in progress is not"
            )
            return 1
        return 0

    def _run(self) -> None:
        import so101.sim  # noqa: F401  (MuJoCo's GL backend before anything renders)
        from so101.inference.deploy import session_record, training_root
        from so101.inference.policy_runner import PolicyRunner
        from so101.inference.policy_spaces import PolicySpaces
        from so101.policies.checkpoint import load_policy

        cfg = self.cfg
        loaded = load_policy(
            cfg.policy.path, cfg.policy.device, cfg.policy.n_action_steps, cfg.policy.temporal_ensemble_coeff
        )
        runner = PolicyRunner.from_loaded(loaded)
        safety = SafetyLayer(config=cfg.safety)
        # An end-effector policy observes the TCP pose and acts through the IK on this host, as in sim evaluation.
        self.spaces = PolicySpaces(safety.model, loaded.requirements)
        fps = loaded.requirements.fps
        reference = TrainingReference.load(training_root(cfg, loaded.path), list(loaded.requirements.cameras))
        chunking = "temporal ensembling" if runner.temporal_ensemble else f"n_action_steps {runner.n_action_steps}"
        log.info("policy %s: %s fps, cameras %s, %s", loaded.path, fps, ", ".join(runner.cameras), chunking)
        log.info("training data %s: %d episodes", reference.root, len(reference.start_states))
        self.robot = robot = connect_follower(cfg.robot.lerobot_config())
        if cfg.dry_run:
            robot.bus.disable_torque()  # the real arm must not move at all in a dry run
        names = list(robot.cameras)
        # Before the run, a slow first reading (cameras starting up) is no reason to stop.
        observation = Watchdog(max(2.0, cfg.safety.watchdog_s)).read(robot.get_observation)
        state, images = joint_state(observation), camera_images(observation, names)
        live = {name: (int(c.height or 0), int(c.width or 0), c.fps) for name, c in cfg.robot.cameras.items()}
        setup = [
            check_cameras(live, loaded.requirements.cameras, fps),
            check_task(cfg.dataset.task, reference.tasks),
            check_units(cfg.robot.use_degrees, reference.units, reference.units_source),
        ]
        tolerance, dry = cfg.start_tolerance_deg, cfg.dry_run
        start = check_start_pose(state, reference.start_states, tolerance, cfg.move_to_start, dry_run=dry)
        move = not start.ok and cfg.move_to_start and not cfg.dry_run
        if move or (not setup[0].ok and "cameras" not in cfg.allowed):
            # Nothing moves, and no policy runs on the wrong cameras, unless cameras, task and units pass.
            self._report([*setup, start])
            conclude(setup, cfg.allowed)
        if move:
            self._move_to(nearest_start(state, reference.start_states), safety, fps)
            observation = Watchdog(max(2.0, cfg.safety.watchdog_s)).read(robot.get_observation)
            state, images = joint_state(observation), camera_images(observation, names)
            start = check_start_pose(state, reference.start_states, tolerance, moved=True)
        views = check_camera_views(images, reference.frames, arm_at_start=start.ok)
        results = [setup[0], views, *setup[1:], start]
        self.spaces.reset(state)
        call_s = warm_up(runner, self.spaces.state(state), images, cfg.warmup_calls)
        results.append(check_timing(call_s, fps, runner.n_action_steps, runner.temporal_ensemble))
        lines = self._report(results)
        conclude(results, cfg.allowed)

        import av
        import datasets

        from so101.recording.dataset_writer import DatasetWriter
        from so101.sim.scene import CameraConfig

        # Quiet the per-episode chatter of the encoders and LeRobot's "Map" progress bar at each save, as record does.
        av.logging.set_libav_level(av.logging.ERROR)
        datasets.disable_progress_bars()

        cameras = [CameraConfig(name, int(c.width or 0), int(c.height or 0)) for name, c in cfg.robot.cameras.items()]
        layout = loaded.requirements.ee_layout if loaded.requirements.action_space == "ee" else None
        action_names = list(JOINT_FEATURE_NAMES) if layout is None else list(layout.names)
        extra = policy_action_feature(action_names)
        session = session_record(cfg, loaded.path, fps, lines, cameras, extra)
        self.writer = DatasetWriter.create(cfg.dataset, fps, cameras, session, extra, command="deploy")
        if cfg.dry_run:
            from so101.sim.viewer import has_display

            video_dir = cfg.video_dir or self.writer.root.with_name(self.writer.root.name + "_dry_run")
            self.dry = DryRunArm(fps, video_dir, window=has_display())
        watchdog = Watchdog(cfg.safety.watchdog_s)
        with EmergencyStop(cfg.stop_file) as stop:
            log.info("emergency stop: %s", stop.how())
            for episode in range(cfg.episodes):
                if episode:
                    self._hold(stop)
                self._episode(episode, runner, safety, fps, watchdog, stop, names)

    def _report(self, results: list[Any]) -> list[str]:
        lines = [result.line(allowed=result.name in self.cfg.allowed) for result in results]
        log.info("preflight:\n%s", "\n".join(lines))
        return lines

    def _move_to(self, target: np.ndarray, safety: SafetyLayer, fps: int) -> None:
        """A slow move (the ramp bound per step) to ``target``, then wait for the arm to arrive."""
        from so101.sim.control_loop import ControlClock

        assert self.robot is not None
        log.info("moving slowly to the training start pose [%s]", ", ".join(f"{v:.0f}" for v in target))
        watchdog = Watchdog(max(2.0, self.cfg.safety.watchdog_s))
        safety.start(joint_state(watchdog.read(self.robot.get_observation)))
        clock = ControlClock(fps)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            sent = safety.filter(target).target
            self.robot.send_action(joint_action(sent))
            clock.wait()
            state = joint_state(watchdog.read(self.robot.get_observation))
            if not safety.ramping and np.abs(state - target).max() <= 2.0:
                return
        raise SafetyStop("the arm did not reach the start pose within 30 s")

    def _hold(self, stop: EmergencyStop) -> None:
        log.info("reset the scene: next episode in %g s", self.cfg.reset_time_s)
        end = time.monotonic() + self.cfg.reset_time_s
        while time.monotonic() < end:
            stop.check()
            time.sleep(0.02)

    def _episode(
        self,
        index: int,
        runner: PolicyRunner,
        safety: SafetyLayer,
        fps: int,
        watchdog: Watchdog,
        stop: EmergencyStop,
        names: list[str],
    ) -> None:
        from so101.sim.control_loop import ControlClock
        from so101.sim.options import episode_steps

        cfg, robot, writer, spaces = self.cfg, self.robot, self.writer, self.spaces
        assert robot is not None and writer is not None and spaces is not None
        observation = watchdog.read(robot.get_observation)
        state = joint_state(observation)
        safety.start(state)
        runner.reset()
        spaces.reset(state)
        if self.dry is not None:
            self.dry.start(state, index)
        viewer = self.dry.viewer if self.dry is not None else None
        clock = ControlClock(fps, view=viewer)  # a dry run's window draws between ticks
        frames, steps = 0, episode_steps(fps, cfg.episode_time_s)
        try:
            for step in range(steps):
                stop.check()
                if viewer is not None and viewer.should_close:
                    raise SafetyStop("the dry run's window was closed")
                images = camera_images(observation, names)
                raw = runner.act(spaces.state(state), images)
                target = safety.filter(spaces.joint_targets(raw)).target
                if self.dry is not None:
                    self.dry.send(target, step)
                else:
                    robot.send_action(joint_action(target))
                writer.add_frame(state, target, images, {POLICY_ACTION: raw})
                frames += 1
                clock.wait()
                observation = watchdog.read(robot.get_observation)
                state = joint_state(observation)
        except SafetyStop as reason:
            if frames:  # what led to a stop is worth keeping
                self._save(index, f"stopped: {reason}")
            raise
        else:
            self._save(index, "deployed")
        finally:
            if self.dry is not None:
                self.dry.end_episode()
            log.info("  %s; %s; %s", safety.summary(), runner.timing.line(), clock.summary())

    def _save(self, index: int, outcome: str) -> None:
        assert self.writer is not None
        # The real arm's episodes have no simulator scene to re-simulate (a dry run's scene is not what the real
        # cameras saw), so their line in meta/so101/episodes.jsonl has none.
        saved = self.writer.save_sceneless_episode(outcome)
        log.info("episode %d/%d saved as episode %s (%s)", index + 1, self.cfg.episodes, saved, outcome)
