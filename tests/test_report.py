"""Tests of so101.inference.report: Wilson intervals, summaries, tables and the curve."""

from __future__ import annotations

import pytest

from so101.inference.report import EvalEpisode, markdown_table, plot_curve, summarize, wilson_interval


def _episode(seed: int, success: bool, steps: int = 100) -> EvalEpisode:
    return EvalEpisode(seed, success, grasped=True, lifted=success, released_over_bowl=success, steps=steps,
                         wall_s=1.0, policy_calls=2, policy_s=0.1)


def test_wilson_interval_matches_reference_values() -> None:
    # 7/10: the interval from the literature (Wilson 1927; e.g. statsmodels proportion_confint method="wilson").
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.3968, abs=1e-4)
    assert high == pytest.approx(0.8922, abs=1e-4)


def test_wilson_interval_stays_inside_unit_range_and_narrows_with_more_episodes() -> None:
    assert wilson_interval(0, 30)[0] == 0.0
    assert wilson_interval(30, 30)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    width_10 = (lambda i: i[1] - i[0])(wilson_interval(7, 10))
    width_30 = (lambda i: i[1] - i[0])(wilson_interval(21, 30))
    assert width_30 < width_10


def test_summarize_rates_and_timings() -> None:
    results = [_episode(0, True, 90), _episode(1, False, 450), _episode(2, True, 120), _episode(3, False, 450)]
    summary = summarize(results, fps=30, elapsed_s=6.0, step=500)
    assert summary.success_rate == 0.5
    assert summary.grasped_rate == 1.0
    assert summary.lifted_rate == 0.5
    assert summary.avg_steps == pytest.approx(277.5)
    assert summary.avg_sim_s == pytest.approx(277.5 / 30)
    assert summary.ms_per_policy_call == pytest.approx(50.0)
    assert summary.episodes_per_min == pytest.approx(40.0)
    assert summary.seeds == [0, 1, 2, 3]
    assert summary.metrics()["eval/success_rate"] == 0.5


def test_markdown_marks_the_best_checkpoint_and_plot_is_written(tmp_path) -> None:
    worse = summarize([_episode(0, False)], 30, 1.0, step=100, checkpoint="run/checkpoints/000100/pretrained_model")
    better = summarize([_episode(0, True)], 30, 1.0, step=200, checkpoint="run/checkpoints/000200/pretrained_model")
    table = markdown_table([worse, better])
    assert "| 000200 | 200 | **100.0%**" in table
    assert "| 000100 | 100 | 0.0%" in table
    plot_curve(tmp_path / "curve.png", [worse, better])
    assert (tmp_path / "curve.png").stat().st_size > 1000
