"""Shared test set-up: headless GL, and no network or online logging."""

from __future__ import annotations

import os

import sim  # noqa: F401  (chooses MuJoCo's headless GL backend before anything imports mujoco)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
