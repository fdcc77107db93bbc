"""VR teleoperation through OpenXR: the session, controller input, the clutch and the VR action source."""
