"""Whether a file is a whole safetensors file, read from its header alone (no tensor is loaded).

A safetensors file is an 8-byte little-endian header length, a JSON header giving each tensor's byte range, then
the data: a file cut short by a crash or a full disk is caught by comparing its size with the largest range end.
Used before a checkpoint loads (``so101.policies.checkpoint``) and when training picks the last whole checkpoint
(``so101.training.checkpoints``).
"""

from __future__ import annotations

import json
from pathlib import Path


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (missing, truncated, not safetensors), or None; reads only its
    header."""
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else -1
        if header_len < 2 or 8 + header_len > size:
            return f"{path} is not a safetensors file or is truncated ({size} bytes)"
        try:
            header = json.loads(f.read(header_len))
            end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return f"{path} has an unreadable safetensors header"
    if 8 + header_len + end > size:
        return f"{path} is truncated ({size} bytes, its header describes {8 + header_len + end})"
    return None
