"""FER2013 readers: image folders and the original CSV, and the errors that name the bad record."""

from __future__ import annotations

import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from classpulse.cli import main as cli_main
from classpulse.emotions import EMOTIONS
from classpulse.errors import UsageError
from model.data import load_split, read_csv, sample_split, unmosaic
from model.export import export_checkpoint
from model.pack import mosaic, pack_fer


def _write_csv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    lines = ["emotion,pixels,Usage"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")


def test_image_folder_reads_every_class(tiny_fer: Path) -> None:
    train = load_split(tiny_fer, "train")
    assert len(train) == 24 * 7
    assert train.images.shape == (168, 48, 48)
    assert train.images.dtype == np.uint8
    assert train.class_counts().tolist() == [24] * 7
    # labels follow EMOTIONS order: the folder name of each source is its label's name
    for label, source in zip(train.labels, train.sources, strict=True):
        assert Path(source).parent.name == EMOTIONS[label]


def test_split_folder_given_directly(tiny_fer: Path) -> None:
    assert len(load_split(tiny_fer / "val", "val")) == 42


def test_csv_matches_image_folder(tiny_fer: Path, tmp_path: Path) -> None:
    val = load_split(tiny_fer, "val")
    rows = [(str(lab), " ".join(map(str, img.ravel())), "PublicTest")
            for img, lab in zip(val.images, val.labels, strict=True)]
    rows.append(("3", " ".join(["7"] * 2304), "Training"))
    _write_csv(tmp_path / "fer2013.csv", rows)
    from_csv = load_split(tmp_path, "val")
    assert np.array_equal(from_csv.images, val.images)
    assert np.array_equal(from_csv.labels, val.labels)
    assert from_csv.sources[0] == f"{tmp_path / 'fer2013.csv'}:2"
    train = read_csv(tmp_path / "fer2013.csv", "train")
    assert len(train) == 1 and train.labels[0] == 3 and (train.images == 7).all()


def test_corrupt_image_is_named(tiny_fer: Path, tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    good = sorted((tiny_fer / "train" / "happy").glob("*.jpg"))[0]
    (tmp_path / "happy" / good.name).write_bytes(good.read_bytes())
    bad = tmp_path / "happy" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UsageError) as err:
        load_split(tmp_path, "train")
    message = str(err.value)  # PIL's reason (here "Truncated File Read") in between
    assert message.startswith(f"corrupt or unreadable image {bad}: ") and "\n" not in message
    assert message.endswith("; replace it with an intact copy of the face, or move it out of the "
                            "data folder")


def test_a_file_that_is_not_an_image_is_refused_not_skipped(tiny_fer: Path,
                                                            tmp_path: Path) -> None:
    """A skipped file would change the class balance unseen, so anything in a label folder but
    a face image (FER2013's folders hold nothing else) stops the read, naming it; dotfiles, which
    file managers leave behind, are passed over."""
    split = tmp_path / "val"
    shutil.copytree(tiny_fer / "val", split)
    (split / "happy" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    assert load_split(split, "val").class_counts().tolist() == [6] * 7
    for name in ("notes.txt", "face.gif", "more.jpg"):
        odd = split / "sad" / name
        odd.mkdir() if name == "more.jpg" else odd.write_bytes(b"GIF89a")
        with pytest.raises(UsageError) as err:
            load_split(split, "val")
        assert str(err.value) == (f"{odd} is not an image file (.jpg, .jpeg, .png, .bmp): a label "
                                  f"folder holds only its faces; move it out of {split / 'sad'}")
        with pytest.raises(UsageError, match=f"^{odd} is not an image file"):
            sample_split(split, "val", 5)  # calibration's way in too
        odd.rmdir() if odd.is_dir() else odd.unlink()


def test_unknown_label_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    (tmp_path / "contempt").mkdir()
    with pytest.raises(UsageError, match="contempt"):
        load_split(tmp_path, "val")


def test_csv_unknown_label_names_the_line(tmp_path: Path) -> None:
    _write_csv(tmp_path / "f.csv", [("0", " ".join(["1"] * 2304), "Training"),
                                    ("9", " ".join(["1"] * 2304), "Training")])
    with pytest.raises(UsageError, match=r"f\.csv:3: unknown emotion label '9'"):
        read_csv(tmp_path / "f.csv", "train")


def test_csv_bad_pixels_names_the_line(tmp_path: Path) -> None:
    _write_csv(tmp_path / "f.csv", [("0", " ".join(["1"] * 2303), "Training")])
    with pytest.raises(UsageError, match=r"f\.csv:2: pixels must be a square number"):
        read_csv(tmp_path / "f.csv", "train")
    _write_csv(tmp_path / "g.csv", [("0", "1 2 x 4", "Training")])
    with pytest.raises(UsageError, match=r"g\.csv:2: pixels are not integers"):
        read_csv(tmp_path / "g.csv", "train")


def test_missing_split_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no FER2013 val split"):
        load_split(tmp_path, "val")


def test_pack_holds_the_splits_labels_exactly_and_faces_nearly(tiny_fer: Path,
                                                               tmp_path: Path) -> None:
    """``model pack``'s file reads back as the folders do: labels exact, val near-lossless."""
    out = tmp_path / "fer.npz"
    assert pack_fer(tiny_fer, out) == {"train": 168, "val": 42}
    for split, tolerance in (("train", 6.0), ("val", 0.5)):
        packed, folder = load_split(out, split), load_split(tiny_fer, split)
        assert np.array_equal(packed.labels, folder.labels)
        error = np.abs(packed.images.astype(int) - folder.images.astype(int)).mean()
        assert 0 < error < tolerance
    assert load_split(out, "val", 32).images.shape == (42, 32, 32)
    with pytest.raises(UsageError, match="no test split"):
        load_split(out, "test")


def test_mosaic_round_trips() -> None:
    faces = np.random.default_rng(0).integers(0, 256, (70, 8, 8), dtype=np.uint8)
    image = mosaic(faces, columns=16)
    assert image.shape == (5 * 8, 16 * 8)
    assert np.array_equal(unmosaic(image, 70, 8, columns=16), faces)


def test_one_split_is_never_both_train_and_val(tiny_fer: Path, tmp_path: Path,
                                               shipped_checkpoint: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A single split folder, or a CSV without Usage, is the same faces whatever split is asked:
    training would select on its training faces, a pack would hold them twice, calibration
    might run on val. Where the split matters, such data is refused in one line."""
    unnamed = "holds one unnamed split"
    with pytest.raises(UsageError, match=f"{unnamed} \\({tiny_fer / 'train'}\\)"):
        load_split(tiny_fer / "train", "val", named=True)
    no_usage = tmp_path / "train.csv"  # Kaggle's train.csv: emotion,pixels
    no_usage.write_text("emotion,pixels\n3," + " ".join(["7"] * 2304) + "\n")
    with pytest.raises(UsageError, match=unnamed):
        load_split(no_usage, "train", named=True)
    assert len(load_split(no_usage, "train")) == 1  # evaluation may read it as it is
    assert len(load_split(tiny_fer, "val", named=True)) == 42
    for argv in (["train", "--data", str(tiny_fer / "train"), "--out", str(tmp_path / "run")],
                 ["train", "--data", str(no_usage), "--out", str(tmp_path / "run")],
                 ["pack", "--data", str(tiny_fer / "train"), "--out", str(tmp_path / "p.npz")]):
        assert cli_main(["model", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert unnamed in err and "train/<emotion>/ and val/<emotion>/" in err
        assert "\n" not in err
    assert not (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "p.npz").exists()
    with pytest.raises(UsageError, match=unnamed):
        export_checkpoint(shipped_checkpoint, tmp_path / "w.safetensors", tiny_fer / "val")


def test_files_that_are_not_fer2013_are_named_in_one_line(tiny_fer: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for jpg in sorted((tiny_fer / "val" / "happy").glob("*.jpg")):
            zf.write(jpg, jpg.name)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"\0" * 200_000)
    not_npz = tmp_path / "fer.npz"
    not_npz.write_text("emotion,pixels\n")
    for path, what in ((archive, "is not a FER2013 CSV text file"),
                       (nul, "is not a FER2013 CSV text file"),
                       (not_npz, "is not a readable .npz")):
        with pytest.raises(UsageError) as err:
            load_split(path, "val")
        message = str(err.value)
        assert message.startswith(f"{path} {what}") and "\n" not in message
    assert cli_main(["model", "evaluate", "--data", str(archive), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{archive} is not a FER2013 CSV text file" in err and "\n" not in err


def test_calibration_decodes_only_the_faces_it_draws(tiny_fer: Path, shipped_checkpoint: Path,
                                                     tmp_path: Path) -> None:
    """``export --calibrate`` keeps 512 of 28,709 training faces: it draws the files first and
    decodes those alone, the very faces a full read would have kept. A corrupt file it does not
    draw is never opened."""
    root = tmp_path / "fer"
    shutil.copytree(tiny_fer, root)
    full = load_split(root, "train")
    drawn = sample_split(root, "train", 20, seed=0)
    kept = full.subset(np.sort(np.random.default_rng(0).permutation(len(full))[:20]))
    assert drawn.sources == kept.sources and np.array_equal(drawn.images, kept.images)
    assert np.array_equal(drawn.labels, kept.labels)
    Path(next(s for s in full.sources if s not in drawn.sources)).write_bytes(b"not a jpeg")
    with pytest.raises(UsageError, match="corrupt or unreadable image"):
        load_split(root, "train")
    assert sample_split(root, "train", 20, seed=0).sources == drawn.sources
    export_checkpoint(shipped_checkpoint, tmp_path / "w.safetensors", root, calibration_faces=20)


def test_pack_takes_only_an_npz_name_and_it_reads_back_in_any_case(
        tiny_fer: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The readers know a pack by its .npz suffix alone: a pack written under another name would
    later be read as "not a FER2013 CSV", so ``model pack`` refuses one; .NPZ is a pack too."""
    odd = tmp_path / "fer.pack"
    assert cli_main(["model", "pack", "--data", str(tiny_fer), "--out", str(odd)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"classpulse model: --out {odd} does not end in .npz, so 'model train' and "
                   "'model evaluate' would not read it as a pack; give a name such as "
                   f"{tmp_path / 'fer.npz'}")
    assert not odd.exists()
    upper = tmp_path / "FER.NPZ"
    assert pack_fer(tiny_fer, upper) == {"train": 168, "val": 42}
    assert np.array_equal(load_split(upper, "val").labels, load_split(tiny_fer, "val").labels)


def test_pack_finds_every_split_before_it_decodes_any(tiny_fer: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A root without val stops at once, not after decoding all of train."""
    root = tmp_path / "fer"
    root.mkdir()
    (root / "train").symlink_to(tiny_fer / "train")

    def decode(*args: object, **kwargs: object) -> None:
        pytest.fail("a split was decoded before every split was found")

    monkeypatch.setattr("model.pack.load_split", decode)
    with pytest.raises(UsageError, match=f"no FER2013 val split in {root}"):
        pack_fer(root, tmp_path / "fer.npz")
    assert not (tmp_path / "fer.npz").exists()


def test_an_npz_of_one_saved_array_is_refused_as_unreadable(tmp_path: Path) -> None:
    """An .npz that is one np.save'd array, not an archive, is refused in one line like any
    unreadable .npz, not with a TypeError traceback."""
    array = tmp_path / "arr.npz"
    with array.open("wb") as fh:
        np.save(fh, np.zeros((3, 48, 48), np.uint8))
    with pytest.raises(UsageError) as err:
        load_split(array, "val")
    assert str(err.value).startswith(f"{array} is not a readable .npz (it holds one array")
    assert "\n" not in str(err.value)


def test_an_image_claiming_gigapixels_is_refused_as_corrupt(tmp_path: Path) -> None:
    """A PNG whose header claims 20000x20000 pixels (PIL's DecompressionBombError) is refused
    like a corrupt image, naming it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    bomb = tmp_path / "val" / "angry" / "big.png"
    bomb.parent.mkdir(parents=True)
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000,
                                                                       8, 0, 0, 0, 0))
                     + chunk(b"IEND", b""))
    with pytest.raises(UsageError) as err:
        load_split(tmp_path / "val", "val")
    assert str(err.value).startswith(f"corrupt or unreadable image {bomb}: Image size "
                                     "(400000000 pixels) exceeds limit")
    assert "\n" not in str(err.value)
