"""Evaluation of checkpoints in the simulator (headless, or watched in the viewer) and the policy runner that sim
evaluation and deployment on the real follower share."""
