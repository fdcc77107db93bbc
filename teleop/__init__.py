"""Sources of actions for the simulated follower (leader arm, keyboard, scripted expert, VR) and the Feetech bus emulator."""
