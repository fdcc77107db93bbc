"""Where the IK restarts when a descent stalls: the arm's other IK branches, and tabulated poses near the target.

A descent of ``so101.kinematics.ik.IKSolver`` that stalls has mostly landed in the wrong IK branch against a joint
limit.
The SO-101 reaches most poses in up to four branches: elbow up or down, and the arm turned by pi about the pan axis
and folded back over its shoulder. ``RestartSeeds`` turns a stalled joint vector into seeds in its other branches,
and keeps a table of random joint vectors whose poses are known, to start from those that lie nearest a target.

Joint vectors here are the five body joints (rad, LeRobot order); poses are in world coordinates, where MuJoCo's
site pose lives.
"""

from __future__ import annotations

import mujoco
import numpy as np

from so101.kinematics.fk import ArmIndex
from so101.kinematics.pose import quat_to_matrix

SEED_SPREAD = 0.5
"""Seeds differ from each other by more than this (rad) in at least one joint: restarts explore distinct branches."""
# Restart seeds are picked among the _SEED_POOL * count tabulated poses nearest the target.
_SEED_POOL = 8


class RestartSeeds:
    """Seeds in other IK branches and near a target, for the SO-101 of ``model``; holds its own ``MjData``.

    Args:
        model: a MuJoCo model containing the arm.
        index: where the arm lives in ``model``.
        lower, upper: (5,) body-joint limits (rad).
        position_weight, orientation_weight: the IK's weights, so that "near" means near in the IK's own error.
        table_size: random joint vectors tabulated at construction.
        seed: seed of the table (fixed, so solves are repeatable).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        index: ArmIndex,
        lower: np.ndarray,
        upper: np.ndarray,
        position_weight: float,
        orientation_weight: float,
        table_size: int,
        seed: int,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.lower, self.upper = lower, upper
        n_body = len(lower)
        self._qpos = index.qpos_adr[:n_body]
        self._site = index.site_id
        self._weights = (position_weight, orientation_weight)
        self._joint_ids = [int(np.flatnonzero(model.jnt_qposadr == adr)[0]) for adr in self._qpos]
        self._mirror_sums = self._mirror_angle_sums()
        self._joints, self._features = self._tabulate(table_size, seed)

    def branches(self, q_body: np.ndarray) -> list[np.ndarray]:
        """Seeds in the three other IK branches of ``q_body``: elbow flipped, pan mirrored, and both."""
        elbow = self._elbow_flip(q_body)
        return [elbow, self._mirror(q_body), self._mirror(elbow)]

    def nearest(self, target_pos: np.ndarray, target_quat: np.ndarray, count: int) -> list[np.ndarray]:
        """Up to ``count`` tabulated joint vectors whose poses lie near the target (world frame), nearest first.

        Poses near the target come from several IK branches (elbow up or down, and the arm turned by pi about the
        pan axis and folded back over the top, which lands within millimetres of the target). A seed is only taken
        when it differs from every seed already taken by ``SEED_SPREAD`` rad in some joint, so the restarts
        explore distinct branches instead of one branch many times.
        """
        count = min(count, len(self._joints))
        if count == 0:
            return []
        target = self._pose_features(target_pos[None], quat_to_matrix(target_quat).reshape(1, 9))[0]
        distances = np.sum((self._features - target) ** 2, axis=1)
        pool = min(_SEED_POOL * count, len(distances))
        nearest = np.argpartition(distances, pool - 1)[:pool]
        chosen: list[np.ndarray] = []
        for candidate in self._joints[nearest[np.argsort(distances[nearest])]]:
            if all(np.max(np.abs(candidate - other)) > SEED_SPREAD for other in chosen):
                chosen.append(candidate)
                if len(chosen) == count:
                    break
        return chosen

    # ------------------------------------------------------------------ internals

    def _kinematics(self, q_body: np.ndarray) -> mujoco.MjData:
        self.data.qpos[self._qpos] = q_body
        mujoco.mj_kinematics(self.model, self.data)
        return self.data

    def _pose_features(self, positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
        """(N, 12) vectors whose squared distances approximate the weighted squared pose error.

        For rotation matrices, ``|R1 - R2|_F^2 = 4 (1 - cos angle)``, close to ``2 angle^2`` for small
        angles, hence the ``1/sqrt(2)`` scale on the flattened matrices.
        """
        position_weight, orientation_weight = self._weights
        return np.hstack([position_weight * positions, orientation_weight / np.sqrt(2.0) * rotations])

    def _tabulate(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Random body-joint vectors within the limits and the pose features of their site (world frame)."""
        rng = np.random.default_rng(seed)
        joints = rng.uniform(self.lower, self.upper, size=(size, len(self.lower)))
        positions, rotations = np.empty((size, 3)), np.empty((size, 9))
        for i, q_body in enumerate(joints):
            data = self._kinematics(q_body)
            positions[i] = data.site_xpos[self._site]
            rotations[i] = data.site_xmat[self._site]
        return joints, self._pose_features(positions, rotations)

    def _mirror_angle_sums(self) -> np.ndarray:
        """For shoulder_lift, elbow_flex and wrist_flex: the sum ``q + q'`` of a joint angle and its mirror image.

        Turning the pan by pi and mirroring the planar lift/elbow/wrist chain about the pan axis (the arm
        reaching back over its shoulder), then turning the roll by pi, reproduces the gripper's orientation
        exactly and its position within the pan-to-shoulder offset (a few cm). Each planar joint then takes
        the angle ``2 c - q``, where ``c`` is the angle at which its link lines up with the previous one (the
        upper arm with the pan axis, the forearm with the upper arm, the roll axis with the forearm). The
        ``c`` are read from the model at the zero pose.
        """
        data = self._kinematics(np.zeros(len(self._qpos)))
        anchors = [data.xanchor[j].copy() for j in self._joint_ids]
        axes = [data.xaxis[j].copy() for j in self._joint_ids]
        links = [axes[0], anchors[2] - anchors[1], anchors[3] - anchors[2], axes[4]]
        sums = np.empty(3)
        for k in range(3):
            axis, before, after = axes[k + 1], links[k], links[k + 1]
            before, after = before - axis * (axis @ before), after - axis * (axis @ after)
            sums[k] = -2.0 * np.arctan2(axis @ np.cross(before, after), before @ after)
        return sums

    def _mirror(self, q_body: np.ndarray) -> np.ndarray:
        """The other-pan-branch seed for ``q_body`` (see ``_mirror_angle_sums``), wrapped and kept in the limits."""
        mirrored = np.empty(len(q_body))
        mirrored[1:4] = self._mirror_sums - q_body[1:4]
        for k in (0, 4):
            # Of the two ways to turn by pi, take the one that stays within (or nearest to) the range.
            up, down = q_body[k] + np.pi, q_body[k] - np.pi
            mirrored[k] = up if up - self.upper[k] < self.lower[k] - down else down
        mirrored[1:4] = (mirrored[1:4] + np.pi) % (2.0 * np.pi) - np.pi
        return np.minimum(np.maximum(mirrored, self.lower), self.upper)

    def _elbow_flip(self, q_body: np.ndarray) -> np.ndarray:
        """``q_body`` with the elbow on the other side of the shoulder-to-wrist line, the wrist in place.

        The elbow is reflected about the line from the shoulder_lift axis to the wrist_flex axis, and
        wrist_flex compensates so that the roll axis keeps its direction (the three axes are parallel).
        """
        data = self._kinematics(q_body)
        lift, elbow, wrist = self._joint_ids[1:4]
        axis = data.xaxis[lift]
        to_elbow = data.xanchor[elbow] - data.xanchor[lift]
        to_wrist = data.xanchor[wrist] - data.xanchor[lift]
        to_elbow, to_wrist = to_elbow - axis * (axis @ to_elbow), to_wrist - axis * (axis @ to_wrist)
        half = np.arctan2(axis @ np.cross(to_wrist, to_elbow), to_wrist @ to_elbow)
        flipped = q_body.copy()
        flipped[1] = q_body[1] - 2.0 * half
        flipped[2] = self._mirror_sums[1] - q_body[2]
        flipped[3] = q_body[3] - (flipped[1] - q_body[1]) - (flipped[2] - q_body[2])
        flipped[1:4] = (flipped[1:4] + np.pi) % (2.0 * np.pi) - np.pi
        return np.minimum(np.maximum(flipped, self.lower), self.upper)
