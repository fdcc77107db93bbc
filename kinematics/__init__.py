"""Kinematics of the SO-101: dataset units, forward kinematics and damped-least-squares inverse kinematics."""
