"""Headless evaluation of checkpoints in the simulator, and sim-to-real deployment."""
