"""``so101 bench expert`` on a handful of scenes (the 200-scene figure is the command's job, not a test's)."""

from __future__ import annotations

from so101.teleop.expert_benchmark import ExpertBenchConfig, main, run


def test_reports_success_phase_rates_and_lengths() -> None:
    result = run(ExpertBenchConfig(episodes=3, seed=20))
    assert result.success_rate == 1.0 and result.failed_seeds == []
    assert result.phase_rates == {"grasped": 1.0, "lifted": 1.0, "released_over_bowl": 1.0, "success": 1.0}
    assert 5.0 < result.mean_success_length_s < 15.0
    assert result.mean_attempts >= 1.0


def test_prints_the_figures_the_target_and_the_machine(capsys) -> None:
    assert main(["--episodes", "2", "--seed", "40", "--expert.noise.enabled"]) == 0
    out = capsys.readouterr().out
    assert "2 scenes (seeds 40..41), with noise" in out
    assert "success rate" in out and "released_over_bowl" in out and "mean length" in out
    assert "target >= 98 %: meets" in out
    assert "machine: " in out.splitlines()[-1]


def test_bad_options_are_one_line_errors(capsys) -> None:
    assert main(["--episodes", "0"]) == 2
    assert "--episodes must be at least 1" in capsys.readouterr().err
    assert main(["--episode", "3"]) == 2
    assert "did you mean --episodes" in capsys.readouterr().err
