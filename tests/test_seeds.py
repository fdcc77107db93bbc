"""Tests of so101.inference.seeds: selection and test seeds are disjoint, and evaluations say which they used."""

from __future__ import annotations

from so101.inference.seeds import SELECTION_SEEDS, TEST_SEEDS, describe_seeds, eval_seeds, seed_set, seeds_record


def test_selection_and_test_seeds_are_disjoint_and_above_recording_seeds() -> None:
    assert not set(SELECTION_SEEDS) & set(TEST_SEEDS)
    assert min(SELECTION_SEEDS.start, TEST_SEEDS.start) >= 100_000  # scripted recordings count up from 0


def test_seed_sets_are_named() -> None:
    assert eval_seeds(5, 3) == [5, 6, 7]
    assert seed_set(eval_seeds(SELECTION_SEEDS.start, 30)) == "selection"
    assert seed_set(eval_seeds(TEST_SEEDS.start, 30)) == "test"
    assert seed_set(eval_seeds(TEST_SEEDS.start - 1, 2)) == "other"  # spans both ranges
    assert seed_set([]) == "other"
    assert "biased upward" in describe_seeds(eval_seeds(SELECTION_SEEDS.start, 3))
    assert "no unbiased estimate" in describe_seeds([TEST_SEEDS.start - 1, TEST_SEEDS.start])
    assert describe_seeds([200000, 200001]).startswith("scene seeds 200000-200001: test seeds")
    record = seeds_record(eval_seeds(TEST_SEEDS.start, 4))
    assert (record["set"], record["first"], record["last"], record["count"]) == ("test", 200000, 200003, 4)
