"""Scene seeds of evaluations: the selection seeds and the test seeds, two disjoint ranges defined here only.

* Selection seeds (``SELECTION_SEEDS``): in-loop evaluation during training runs every checkpoint on them and keeps
  the best one in ``best/``. A success rate measured on these scenes is biased upward for the checkpoint they chose.
* Test seeds (``TEST_SEEDS``): the default of ``so101 eval``, the final estimate of a chosen checkpoint on scenes
  that played no part in choosing it.

Grid scenes (``GRID_SEEDS``, ``so101.inference.grid``) are not drawn at random: ``so101 eval --grid.size N`` places the
brick on a grid over the workspace, and numbers those scenes from ``GRID_SEEDS.start``, apart from both ranges.

Recordings draw their scenes from seed 0 upwards, far below all three ranges. Episode ``i`` of an evaluation uses scene
seed ``first + i``, so every checkpoint evaluated with the same first seed sees the same scenes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

SELECTION_SEEDS = range(100_000, 200_000)
"""Scene seeds of in-loop evaluation, which selects the best checkpoint of a run."""
TEST_SEEDS = range(200_000, 300_000)
"""Scene seeds of the final evaluation of a checkpoint (``so101 eval``'s default)."""
GRID_SEEDS = range(300_000, 400_000)
"""Numbers of the grid scenes of ``so101 eval --grid.size N`` (placed on a grid, not drawn from the number)."""

SeedSet = Literal["selection", "test", "grid", "other"]


def eval_seeds(first: int, episodes: int) -> list[int]:
    """The scene seeds of an evaluation of ``episodes`` episodes starting at ``first``."""
    return [first + i for i in range(episodes)]


def seed_set(seeds: Sequence[int]) -> SeedSet:
    """Which range ``seeds`` lie in: ``selection``, ``test``, ``grid``, or ``other`` (outside them, or spanning
    several)."""
    for name, seed_range in (("selection", SELECTION_SEEDS), ("test", TEST_SEEDS), ("grid", GRID_SEEDS)):
        if seeds and all(seed in seed_range for seed in seeds):
            return name  # type: ignore[return-value]
    return "other"


def overlaps(seeds: Sequence[int], seed_range: range) -> bool:
    """Whether any of ``seeds`` lies in ``seed_range``."""
    return any(seed in seed_range for seed in seeds)


def seed_span(seeds: Sequence[int]) -> str:
    """``first-last`` of a list of seeds (``first`` alone for one seed)."""
    if not seeds:
        return "no seeds"
    return str(seeds[0]) if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}"


def describe_seeds(seeds: Sequence[int]) -> str:
    """One sentence naming the scene seeds of an evaluation and what they are worth as an estimate."""
    kind = seed_set(seeds)
    selection = f"{SELECTION_SEEDS.start}-{SELECTION_SEEDS.stop - 1}"
    if kind == "test":
        return (
            f"scene seeds {seed_span(seeds)}: test seeds, disjoint from the selection seeds ({selection}) on which "
            "in-loop evaluation chose the best checkpoint"
        )
    if kind == "grid":
        return (
            f"grid scenes {seed_span(seeds)}: the brick on a grid over the workspace (so101.inference.grid), disjoint "
            f"from the selection ({selection}) and test seeds"
        )
    if kind == "selection":
        return (
            f"scene seeds {seed_span(seeds)}: selection seeds, on which in-loop evaluation chooses checkpoints; "
            "for the best checkpoint this success rate is biased upward"
        )
    warning = "; some are selection seeds, so this is no unbiased estimate" if overlaps(seeds, SELECTION_SEEDS) else ""
    return f"scene seeds {seed_span(seeds)}: neither the selection nor the test seeds{warning}"


def seeds_record(seeds: Sequence[int]) -> dict[str, Any]:
    """The scene seeds of an evaluation as written into its JSON results."""
    return {
        "set": seed_set(seeds),
        "first": min(seeds) if seeds else None,
        "last": max(seeds) if seeds else None,
        "count": len(seeds),
        "description": describe_seeds(seeds),
        "selection_seeds": [SELECTION_SEEDS.start, SELECTION_SEEDS.stop - 1],
        "test_seeds": [TEST_SEEDS.start, TEST_SEEDS.stop - 1],
    }
