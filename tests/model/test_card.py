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


def _weights_with(path: Path, metadata: dict[str, object]) -> Path:
    header = json.dumps({"__metadata__": {k: json.dumps(v) for k, v in metadata.items()}})
    path.write_bytes(len(header.encode()).to_bytes(8, "little") + header.encode())
    return path


def test_an_accuracy_of_part_of_val_is_not_quoted(tmp_path: Path) -> None:
    """The dashboard states the number as the accuracy on FER2013's validation photos: a
    ``--limit-val 7`` run's 2 of 7 faces (recorded by export in the recipe and the split's label)
    is no such number, so none is given; the whole split's is."""
    limited = {"accuracy": 2 / 7, "n": 7, "split": "val split of small (7 faces; --limit-val 7)"}
    whole = {"accuracy": 0.655, "n": 3589, "split": "val (FER2013 PublicTest)"}
    cases = [
        ({"val_metrics": limited, "recipe": {"limit_val": 7}}, None),
        ({"val_metrics": limited}, None),  # the label alone says so
        ({"val_metrics": {**whole, "n": 7}, "recipe": {"limit_val": 7}}, None),
        ({"val_metrics": whole, "recipe": {"limit_val": None}}, 0.655),
        ({"val_metrics": whole}, 0.655),
    ]
    for i, (metadata, expected) in enumerate(cases):
        path = _weights_with(tmp_path / f"{i}.safetensors", metadata)
        assert card.val_accuracy(path) == expected, metadata
