"""Task signals of the pick-and-place, computed from the simulation state every control step.

* ``grasped``: the brick touches both jaws.
* ``lifted``: grasped, and the brick is at least ``lift_height`` above its resting height on the table.
* ``over_bowl``: the brick's centre is within the bowl's inner radius, horizontally.
* ``released``: over the bowl and touching neither jaw.
* ``success``: the brick rests inside the bowl (within the inner radius, below the rim, touching neither jaw)
  and has done so for at least ``success_hold_s`` of sim time. Holding the brick over the bowl is not success.

The episode-level phase flags (``ever_*``) record whether a phase was reached at any step, for phase rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from so101.sim.scene import BOWL_INNER_RADIUS, BOWL_RIM_HEIGHT, SceneModel

TASK = "Pick up the Duplo brick and place it in the bowl."
"""The task string of every recorded frame and of the environment; language-conditioned policies need it verbatim."""


@dataclass
class TaskSignalConfig:
    lift_height: float = 0.02
    """Height (m) above the resting height that counts as lifted."""
    success_hold_s: float = 0.5
    """Sim time (s) the brick must rest in the bowl before the episode counts as a success."""


@dataclass
class TaskSignals:
    """Signals of one control step, and the phases reached so far in the episode."""

    grasped: bool = False
    lifted: bool = False
    over_bowl: bool = False
    released: bool = False
    in_bowl: bool = False
    success: bool = False
    in_bowl_time: float = 0.0
    """Sim time (s) the brick has rested in the bowl without interruption."""
    ever_grasped: bool = False
    ever_lifted: bool = False
    ever_released_over_bowl: bool = False

    def as_dict(self) -> dict[str, bool | float]:
        return dict(self.__dict__)


class TaskMonitor:
    """Computes ``TaskSignals`` for a scene; call ``reset`` at each episode start, ``update`` every control step."""

    def __init__(self, scene: SceneModel, config: TaskSignalConfig | None = None) -> None:
        self._scene = scene
        self.config = config or TaskSignalConfig()
        model = scene.model
        jaw_body_of_geom = np.full(model.ngeom, -1)
        for jaw_index, body in enumerate(scene.jaw_bodies):
            jaw_body_of_geom[model.geom_bodyid == body] = jaw_index
        self._jaw_of_geom = jaw_body_of_geom
        self._brick_geoms = model.geom_bodyid == scene.brick_body
        self._resting_height = float(scene.brick_half_size[2])
        self.signals = TaskSignals()

    def reset(self) -> TaskSignals:
        self.signals = TaskSignals()
        return self.signals

    def update(self, data: mujoco.MjData, dt: float) -> TaskSignals:
        """Signals after a control step that advanced the sim by ``dt`` seconds."""
        scene = self._scene
        touching = self._jaws_touching_brick(data)
        grasped = all(touching)
        brick_pos = data.xpos[scene.brick_body]
        bowl_pos = data.xpos[scene.bowl_body]
        horizontal = float(np.hypot(*(brick_pos[:2] - bowl_pos[:2])))
        over_bowl = horizontal < BOWL_INNER_RADIUS
        lifted = grasped and brick_pos[2] - self._resting_height >= self.config.lift_height
        free = not any(touching)
        in_bowl = over_bowl and free and brick_pos[2] - bowl_pos[2] < BOWL_RIM_HEIGHT
        previous = self.signals
        in_bowl_time = previous.in_bowl_time + dt if in_bowl else 0.0
        # Rounding: 15 control steps of 1/30 s must reach 0.5 s exactly.
        success = in_bowl and in_bowl_time >= self.config.success_hold_s - 1e-9
        self.signals = TaskSignals(
            grasped=grasped,
            lifted=lifted,
            over_bowl=over_bowl,
            released=over_bowl and free,
            in_bowl=in_bowl,
            success=success,
            in_bowl_time=in_bowl_time,
            ever_grasped=previous.ever_grasped or grasped,
            ever_lifted=previous.ever_lifted or lifted,
            ever_released_over_bowl=previous.ever_released_over_bowl or (previous.ever_lifted and over_bowl and free),
        )
        return self.signals

    def _jaws_touching_brick(self, data: mujoco.MjData) -> tuple[bool, bool]:
        if data.ncon == 0:
            return (False, False)
        pairs = data.contact.geom[: data.ncon]
        brick_first = self._brick_geoms[pairs[:, 0]]
        brick_second = self._brick_geoms[pairs[:, 1]]
        other = np.concatenate([pairs[brick_first, 1], pairs[brick_second, 0]])
        jaws = self._jaw_of_geom[other]
        return (bool(np.any(jaws == 0)), bool(np.any(jaws == 1)))
