"""Kinematics of the SO-101: dataset units, the pose layer, forward kinematics, damped-least-squares inverse
kinematics and the end-effector controller built on them. numpy and MuJoCo only (no torch)."""
