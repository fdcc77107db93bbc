"""``so101 bench leader``: a tiny run over the emulator in its own process (figures are printed, not asserted)."""

from __future__ import annotations

from so101.teleop.leader_benchmark import main


def test_every_target_is_the_pose_the_servos_moved_to(capsys):
    assert main(["--duration_s", "0.3", "--scene.fps", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ")
    assert "20 Hz for 0.3 s (6 steps)" in out
    assert "targets equal to the servo poses: 6/6; leader arm: 6 reads, 0 retried, 0 stale" in out
    assert "control clock: " in out and " late tick(s) of 6" in out
    for label in ("servo change -> sim target", "of which the leader read", "sim control step", "loop rate"):
        assert label in out
    assert "target (>= 20 Hz sustained, median change -> target < 5 ms): " in out


def test_bad_duration_is_a_usage_error(capsys):
    assert main(["--duration_s", "0"]) == 2
    assert "--duration_s must be positive" in capsys.readouterr().err
