"""Where the workbench's own files live: the MJCF models, package data of ``so101.assets``.

Found through ``importlib.resources``, so they resolve the same in an editable install (the repository's
``assets/``) and in an installed wheel (``site-packages/so101/assets``). MuJoCo reads files by path, and a wheel is
installed unzipped, so the resource is a real folder.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

ASSETS_DIR = Path(str(files("so101.assets")))
ROBOT_XML = ASSETS_DIR / "so101.xml"
"""The workbench's own SO-101 follower model (arm only, base frame at the origin)."""
SCENE_XML = ASSETS_DIR / "scene.xml"
"""The pick-and-place scene: table, brick, bowl, cameras, lights; the arm is attached by ``so101.sim.scene``."""
