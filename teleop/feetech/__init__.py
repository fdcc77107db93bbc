"""The Feetech bus: everything the workbench knows about SO-101 arms on a Feetech STS3215 serial bus.

LeRobot's ``so101_leader`` (and ``so101_follower``) drive the servos; this package holds what sits around them,
for every arm alike:

* ``ports``: the serial ports present, a port's holder when it is busy, and opening a LeRobot bus with errors that
  name the fix;
* ``calibration``: LeRobot's calibration files (where they live, and whether they match the servos);
* the STS3215 bus emulator behind ``so101 emulate`` and the tests: ``protocol`` (packets), ``servo`` (one servo's
  registers and encoder), ``emulator`` (a bus of servos on a pseudo-terminal, scripted motion and faults),
  ``trajectories`` (named scripted motions of a hand on the arm) and ``emulated_arm`` (a calibrated SO-101 on it).
"""
