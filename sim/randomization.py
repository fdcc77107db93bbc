"""Seeded placement of the brick and the bowl, and its JSON form.

A ``ScenePlacement`` is everything random about an episode's start. The same seed gives the same placement;
the same placement (or its JSON) gives bit-identical first observations.

Frame: world (= table top at the arm's base, +x forward, +z up); metres and radians.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from so101.kinematics.pose import yaw_quat
from so101.sim.scene import BOWL_OUTER_RADIUS

TABLE_TOP_XY = ((-0.25, 0.65), (-0.5, 0.5))
"""(x range, y range) of the table top (m, world frame): the ``table_top`` geom of ``assets/scene.xml``."""
MAX_START_HEIGHT = 0.1
"""Highest start (m above the table) of a placed object: they start resting on the table."""


@dataclass
class RandomizationConfig:
    """Where the brick and the bowl may be placed."""

    brick_nominal_xy: tuple[float, float] = (0.21, 0.09)
    """Nominal brick position (m) on the table."""
    brick_jitter: float = 0.04
    """Brick position is drawn uniformly within +-brick_jitter (m) of nominal in x and y."""
    brick_yaw_range_deg: float = 180.0
    """Brick yaw is drawn uniformly in +-brick_yaw_range_deg."""
    bowl_x_range: tuple[float, float] = (0.16, 0.24)
    bowl_y_range: tuple[float, float] = (-0.17, -0.10)
    min_clearance: float = 0.01
    """Minimum gap (m) between the brick's footprint and the bowl's rim."""

    def __post_init__(self) -> None:
        for name in ("bowl_x_range", "bowl_y_range"):
            low, high = getattr(self, name)
            if high < low:
                raise ValueError(f"{name} must be (low, high), got {(low, high)}")
        if self.brick_jitter < 0 or self.brick_yaw_range_deg < 0:
            raise ValueError("brick_jitter and brick_yaw_range_deg must not be negative")


@dataclass
class ScenePlacement:
    """The random part of an episode's initial state."""

    seed: int | None
    brick_pos: tuple[float, float, float]
    """Brick centre (m), world frame."""
    brick_yaw: float
    """Brick rotation about +z (rad)."""
    bowl_pos: tuple[float, float, float]
    """Centre of the bowl's underside (m), world frame."""

    @property
    def brick_quat(self) -> np.ndarray:
        """Brick orientation as quaternion [w, x, y, z]."""
        return yaw_quat(self.brick_yaw)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, payload: dict) -> ScenePlacement:
        """The placement a dict (``asdict`` of one, as ``to_json`` writes it) describes.

        Raises:
            ValueError: a key is missing, or a value is not a number (or 3 of them).
        """
        try:
            placement = cls(
                seed=payload.get("seed"),
                brick_pos=tuple(float(v) for v in payload["brick_pos"]),  # type: ignore[arg-type]
                brick_yaw=float(payload["brick_yaw"]),
                bowl_pos=tuple(float(v) for v in payload["bowl_pos"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(
                f"not a scene placement ({type(error).__name__}: {error}); expected keys seed, brick_pos [x, y, z], "
                "brick_yaw and bowl_pos [x, y, z] (metres, radians), as ScenePlacement.to_json writes them"
            ) from error
        for name in ("brick_pos", "bowl_pos"):
            position = getattr(placement, name)
            if len(position) != 3 or not all(math.isfinite(v) for v in position):
                raise ValueError(f"scene placement: {name} must be 3 finite numbers (metres), got {list(position)}")
        if not math.isfinite(placement.brick_yaw):
            raise ValueError(f"scene placement: brick_yaw must be a finite angle (radians), got {placement.brick_yaw}")
        return placement

    def check_on_table(self) -> None:
        """Raise ValueError if the brick or the bowl starts off the table top (a placement of another scene)."""
        (x_low, x_high), (y_low, y_high) = TABLE_TOP_XY
        for name in ("brick_pos", "bowl_pos"):
            x, y, z = getattr(self, name)
            if not (x_low <= x <= x_high and y_low <= y <= y_high and 0.0 <= z <= MAX_START_HEIGHT):
                raise ValueError(
                    f"scene placement: {name} {[x, y, z]} is off the table (x {x_low}..{x_high}, y {y_low}.."
                    f"{y_high}, z 0..{MAX_START_HEIGHT} m in the world frame); was it written for another scene?"
                )

    @classmethod
    def from_json(cls, text: str) -> ScenePlacement:
        """The placement of ``to_json``'s text. Raises ValueError naming what is wrong with it, an object off the
        table included."""
        try:
            payload = json.loads(text)
        except ValueError as error:
            raise ValueError(
                f"scene placement is not valid JSON ({error}); pass the text ScenePlacement.to_json writes (so101 "
                "rollout saves it as scene_NNN.json)"
            ) from error
        if not isinstance(payload, dict):
            raise ValueError(f"scene placement JSON must be an object, got {type(payload).__name__}")
        placement = cls.from_dict(payload)
        placement.check_on_table()
        return placement


def sample_placement(seed: int, config: RandomizationConfig, brick_half_size: np.ndarray) -> ScenePlacement:
    """Draw a placement from ``seed``: brick around its nominal spot, bowl in its region, never overlapping.

    Args:
        seed: any integer; the same seed always gives the same placement.
        config: the regions to draw from.
        brick_half_size: (3,) half extents (m) of the brick's block; its centre rests at half its height.
    """
    rng = np.random.default_rng(seed)
    brick_radius = float(np.hypot(brick_half_size[0], brick_half_size[1]))
    for _ in range(1000):
        brick_xy = np.asarray(config.brick_nominal_xy) + rng.uniform(-1.0, 1.0, 2) * config.brick_jitter
        brick_yaw = math.radians(rng.uniform(-1.0, 1.0) * config.brick_yaw_range_deg)
        bowl_xy = np.array([rng.uniform(*config.bowl_x_range), rng.uniform(*config.bowl_y_range)])
        if np.linalg.norm(brick_xy - bowl_xy) >= BOWL_OUTER_RADIUS + brick_radius + config.min_clearance:
            return ScenePlacement(
                seed=seed,
                brick_pos=(float(brick_xy[0]), float(brick_xy[1]), float(brick_half_size[2])),
                brick_yaw=brick_yaw,
                bowl_pos=(float(bowl_xy[0]), float(bowl_xy[1]), 0.0),
            )
    raise ValueError(
        "the brick and bowl regions overlap too much to place both apart; move bowl_x_range/bowl_y_range "
        "away from brick_nominal_xy"
    )
