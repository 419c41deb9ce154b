"""The model card, read from the weights header without torch, matches safetensors own reader."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from model import card


def test_header_metadata_equals_what_safetensors_reads() -> None:
    with safe_open(str(card.DEFAULT_WEIGHTS), framework="np") as fh:
        expected = dict(fh.metadata())
    assert card.read_metadata() == expected
    recorded = json.loads(expected["val_metrics"])["accuracy"]
    assert card.val_accuracy() == recorded
    assert 0.5 < recorded < 0.8


def test_missing_or_foreign_files_give_no_numbers(tmp_path: Path) -> None:
    not_weights = tmp_path / "notes.txt"
    not_weights.write_text("these are not weights, just a long line of text " * 10)
    huge_header = tmp_path / "huge.safetensors"
    huge_header.write_bytes((2**40).to_bytes(8, "little") + b"{}")
    no_metrics = tmp_path / "bare.safetensors"
    header = json.dumps({"__metadata__": {"format": "x"}}).encode()
    no_metrics.write_bytes(len(header).to_bytes(8, "little") + header)
    for path in (tmp_path / "absent.safetensors", not_weights, huge_header):
        assert card.read_metadata(path) == {}
        assert card.val_accuracy(path) is None
    assert card.read_metadata(no_metrics) == {"format": "x"}
    assert card.val_accuracy(no_metrics) is None
