"""The episode loop, LeRobot dataset writing, scene metadata, replay and dataset tools."""
