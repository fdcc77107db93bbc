"""The simulated SO-101 follower in its scene: reset to a placement, step at the control rate, read the joints.

Actions and joint readings are in dataset units (degrees; gripper 0..100, see ``so101.kinematics.units``), exactly as
LeRobot's SO-101 follower takes and reports them, or in its older -100..100 normalisation when asked. Every control
step advances exactly 1/fps s of sim time.
"""

from __future__ import annotations

import mujoco
import numpy as np

from so101.kinematics.units import Normalization, dataset_to_radians, radians_to_dataset
from so101.sim.randomization import RandomizationConfig, ScenePlacement, sample_placement
from so101.sim.scene import SceneConfig, SceneModel, build_scene
from so101.sim.task_signals import TaskMonitor, TaskSignalConfig, TaskSignals

START_POSE = np.array([0.0, -45.0, 25.0, 85.0, 0.0, 0.0])
"""Pose of the arm at the start of every episode (dataset units): gripper closed, hovering above the workspace.
Not the IK's seed pose (``so101.kinematics.ik``)."""


class So101Sim:
    """One simulated scene. Not thread-safe; one instance per worker."""

    def __init__(
        self,
        scene: SceneModel | SceneConfig | None = None,
        randomization: RandomizationConfig | None = None,
        signals: TaskSignalConfig | None = None,
    ) -> None:
        self.scene = scene if isinstance(scene, SceneModel) else build_scene(scene)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self.randomization = randomization or RandomizationConfig()
        self.monitor = TaskMonitor(self.scene, signals)
        self.placement: ScenePlacement | None = None
        self.steps = 0

    @property
    def fps(self) -> int:
        return self.scene.config.fps

    @property
    def control_dt(self) -> float:
        """Sim time of one control step (s): exactly ``n_substeps`` physics steps."""
        return self.scene.n_substeps * self.model.opt.timestep

    @property
    def signals(self) -> TaskSignals:
        return self.monitor.signals

    def sample_placement(self, seed: int) -> ScenePlacement:
        return sample_placement(seed, self.randomization, self.scene.brick_half_size)

    def reset(self, placement: ScenePlacement | int) -> np.ndarray:
        """Start an episode from a placement (or the seed of one). Returns the joint readings (dataset units)."""
        if not isinstance(placement, ScenePlacement):
            placement = self.sample_placement(int(placement))
        scene, model, data = self.scene, self.model, self.data
        mujoco.mj_resetData(model, data)
        model.body_pos[scene.bowl_body] = placement.bowl_pos
        adr = scene.brick_qpos_adr
        data.qpos[adr : adr + 3] = placement.brick_pos
        data.qpos[adr + 3 : adr + 7] = placement.brick_quat
        self.place_arm(START_POSE)
        self.monitor.reset()
        self.placement = placement
        self.steps = 0
        return self.joint_positions()

    def place_arm(self, pose: np.ndarray, norm: Normalization = "degrees") -> None:
        """Put the arm at ``pose`` (6,) (dataset units ``norm``) at once, its actuators holding it there, and update
        every pose-dependent quantity (a reset, a dry run taking the real arm's pose, a camera posed from servos)."""
        scene = self.scene
        radians = dataset_to_radians(np.asarray(pose, dtype=np.float64), scene.limits, norm)
        self.data.qpos[scene.joint_qpos_adr] = radians
        self.data.ctrl[scene.actuator_ids] = radians
        mujoco.mj_forward(self.model, self.data)

    def step(self, action: np.ndarray, norm: Normalization = "degrees") -> TaskSignals:
        """Apply joint targets for one control step and return the task signals.

        This is the one place where targets are converted to radians and clamped to the joint limits: callers pass
        what their source produced, in dataset units, and read the clamped targets back with ``commanded_targets``.

        Args:
            action: (6,) joint targets in dataset units (``norm``: degrees, or the older -100..100 body joints);
                gripper 0..100.
            norm: the dataset units of ``action``.

        Raises:
            ValueError: ``action`` is not 6 finite numbers.
        """
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (6,) or not np.all(np.isfinite(action)):
            raise ValueError(f"an action is 6 finite joint targets in dataset units, got {action!r}")
        limits = self.scene.limits
        targets = dataset_to_radians(action, limits, norm)
        self.data.ctrl[self.scene.actuator_ids] = np.clip(targets, limits.lower, limits.upper)
        mujoco.mj_step(self.model, self.data, nstep=self.scene.n_substeps)
        # mj_step leaves positions-dependent quantities (poses, contacts) one physics step behind qpos;
        # observations, signals and images must describe the state the step ended in.
        mujoco.mj_forward(self.model, self.data)
        self.steps += 1
        return self.monitor.update(self.data, self.control_dt)

    def joint_positions(self, norm: Normalization = "degrees") -> np.ndarray:
        """The arm's joint positions in dataset units (``norm``), shape (6,): what ``observation.state`` records."""
        return radians_to_dataset(self.data.qpos[self.scene.joint_qpos_adr], self.scene.limits, norm)

    def commanded_targets(self, norm: Normalization = "degrees") -> np.ndarray:
        """The joint targets currently commanded, as clamped by ``step`` (dataset units ``norm``, shape (6,))."""
        return radians_to_dataset(self.data.ctrl[self.scene.actuator_ids], self.scene.limits, norm)
