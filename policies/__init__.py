"""Policy construction, configuration presets and checkpoint loading (ACT through LeRobot)."""
