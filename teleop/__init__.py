"""Sources of actions for the simulated follower (leader arm, keyboard, scripted expert, VR) and the Feetech bus
code shared by the leader and, later, the follower (``so101.teleop.feetech``)."""
