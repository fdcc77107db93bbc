"""Tests of so101.policies.safetensors_file: whole, truncated, missing and foreign files, from the header alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from so101.policies.safetensors_file import safetensors_problem


@pytest.fixture
def whole(tmp_path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "bias": torch.zeros(3)}, str(path))
    return path


def test_a_whole_file_has_no_problem(whole: Path) -> None:
    assert safetensors_problem(whole) is None


def test_a_file_cut_inside_its_tensors_is_truncated(whole: Path) -> None:
    data = whole.read_bytes()
    whole.write_bytes(data[:-4])
    problem = safetensors_problem(whole)
    assert problem is not None and "truncated" in problem and str(len(data)) in problem


def test_a_file_cut_inside_its_header_is_not_safetensors(whole: Path) -> None:
    whole.write_bytes(whole.read_bytes()[:20])
    problem = safetensors_problem(whole)
    assert problem is not None and "not a safetensors file or is truncated (20 bytes)" in problem


def test_a_missing_file_and_a_foreign_header_are_named(tmp_path: Path) -> None:
    assert safetensors_problem(tmp_path / "absent.safetensors") == f"{tmp_path / 'absent.safetensors'} is missing"
    foreign = tmp_path / "foreign.safetensors"
    header = b"[1, 2, 3]"
    foreign.write_bytes(len(header).to_bytes(8, "little") + header)
    assert safetensors_problem(foreign) == f"{foreign} has an unreadable safetensors header"
