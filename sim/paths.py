"""Where the workbench's own files live."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS_DIR = REPO_ROOT / "assets"
ROBOT_XML = ASSETS_DIR / "so101.xml"
"""The workbench's own SO-101 follower model (arm only, base frame at the origin)."""
SCENE_XML = ASSETS_DIR / "scene.xml"
"""The pick-and-place scene: table, brick, bowl, cameras, lights; the arm is attached by ``sim.scene``."""
