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

from kinematics.pose import yaw_quat
from sim.scene import BOWL_OUTER_RADIUS


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
        try:
            return cls(
                seed=payload.get("seed"),
                brick_pos=tuple(float(v) for v in payload["brick_pos"]),  # type: ignore[arg-type]
                brick_yaw=float(payload["brick_yaw"]),
                bowl_pos=tuple(float(v) for v in payload["bowl_pos"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"not a scene placement ({error}); expected keys seed, brick_pos, brick_yaw, bowl_pos"
            ) from error

    @classmethod
    def from_json(cls, text: str) -> ScenePlacement:
        return cls.from_dict(json.loads(text))


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
