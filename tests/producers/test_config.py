"""cameras.yaml validation: every mistake names the file, the camera and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from classpulse.cli import build_parser
from classpulse.errors import UsageError
from producers.cli import cameras_from_args
from producers.config import load_cameras


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return path


def test_defaults_at_top_level_apply_to_every_camera(tmp_path: Path) -> None:
    path = _write(tmp_path, """
fps: 1
cameras:
  - {id: front, classroom: 7B, source: rtsp://10.0.0.5/stream}
  - {id: back, classroom: 7C, source: "0", fps: 4, loop: true}
""")
    front, back = load_cameras(path)
    assert (front.id, front.fps, front.max_side, front.loop) == ("front", 1.0, 1920, False)
    assert (back.source, back.fps, back.loop) == ("0", 4.0, True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cameras: []", "non-empty list under 'cameras:'"),
        ("cameras: [{id: a, classroom: r}]", "camera #1 has no 'source'"),
        ("cameras: [{id: a, classroom: r, source: x, fsp: 2}]", "unknown key(s) fsp"),
        ("cameras: [{id: a, classroom: r, source: x, fps: fast}]", "'fps' must be a float"),
        ("cameras: [{id: a, classroom: r, source: x, fps: 0}]", "fps=0.0 must lie in"),
        ("fps: 1e-10\ncameras: [{id: a, classroom: r, source: x}]",
         "camera #1: camera 'a': fps=1e-10 must lie in [0.01667, 60] (a frame a minute to 60 a "
         "second)"),
        ("cameras: [{id: 'a b', classroom: r, source: x}]", "camera id 'a b' is invalid"),
        ("cameras: [{id: a, classroom: r, source: x, loop: 'yes'}]", "true or false"),
        ("cameras: [{id: a, classroom: r, source: x}, {id: a, classroom: r, source: y}]",
         "repeated: a"),
        ("cameras: [1]", "camera #1 must be a mapping"),
        ("cameras: [", "line 1, column 11: not valid YAML: expected the node content, but "
                       "found '<stream end>' (while parsing a flow node); compare with "
                       "deploy/cameras.example.yaml"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("key", "given", "shown"), [
    ("max_side", ".inf", "inf"), ("jpeg_quality", "-.inf", "-inf"), ("max_side", ".nan", "nan"),
    ("max_side", "64.9", "64.9"), ("jpeg_quality", "80.5", "80.5"),
])
def test_an_integer_key_given_no_whole_number_is_one_line_naming_camera_and_key(
        tmp_path: Path, key: str, given: str, shown: str) -> None:
    """.inf was an OverflowError traceback, and 64.9 was cut to 64 without a word."""
    path = _write(tmp_path, "cameras:\n  - {id: a, classroom: r, source: x}\n"
                            f"  - {{id: b, classroom: r, source: y, {key}: {given}}}\n")
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == f"{path}: camera #2: '{key}' must be a whole number, got {shown}"
    whole = _write(tmp_path, f"cameras: [{{id: a, classroom: r, source: x, {key}: 64.0}}]")
    assert getattr(load_cameras(whole)[0], key) == 64


def test_bad_yaml_is_one_line_with_where_and_no_line_of_the_file(tmp_path: Path) -> None:
    """PyYAML's own message spans lines and quotes the file's line: here a camera's password."""
    path = _write(tmp_path, "cameras:\n  - id: a\n    classroom: r\n"
                            '    source: "rtsp://admin:s3cretpw@cam.lan/stream\n')
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == (
        f"{path}: line 5, column 1: not valid YAML: found unexpected end of stream (while "
        "scanning a quoted scalar that starts on line 4); compare with "
        "deploy/cameras.example.yaml")


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    """Saved as UTF-16 (Windows' Notepad's "Unicode"): a UnicodeDecodeError traceback."""
    path = tmp_path / "cameras.yaml"
    path.write_text("cameras:\n  - {id: a, classroom: r, source: rtsp://cam/s}\n",
                    encoding="utf-16")
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == (f"{path} is not UTF-8 text (invalid start byte at byte 0); save "
                               "it as UTF-8")


def test_flags_given_win_over_the_file(tmp_path: Path) -> None:
    """README: flags win. `produce --config cameras.yaml --fps 1` used to keep the file's fps."""
    path = _write(tmp_path, """
fps: 4
max_side: 1280
cameras:
  - {id: front, classroom: 7B, source: rtsp://10.0.0.5/stream}
  - {id: back, classroom: 7C, source: rtsp://10.0.0.6/stream, fps: 5, jpeg_quality: 60}
""")
    args = build_parser().parse_args(["produce", "--config", str(path), "--fps", "1",
                                      "--no-realtime"])
    front, back = cameras_from_args(args)
    assert (front.fps, back.fps) == (1.0, 1.0)
    assert (front.realtime, back.realtime) == (False, False)
    # what no flag gave still comes from the file
    assert (front.max_side, back.max_side, back.jpeg_quality) == (1280, 1280, 60)
    front, back = cameras_from_args(build_parser().parse_args(["produce", "--config", str(path)]))
    assert (front.fps, back.fps, front.realtime) == (4.0, 5.0, True)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read camera file"):
        load_cameras(tmp_path / "absent.yaml")


def test_ids_and_sources_are_read_as_written(tmp_path: Path) -> None:
    """YAML 1.1 read `classroom: 0101` as the number 65 (octal), `12:30` as 750 (base 60) and
    `1_000` as 1000: cameras published under ids nobody wrote, silently. A webcam index needs no
    quotes either, and a `<<:` merge keeps what it merges as written too."""
    path = _write(tmp_path, """
cameras:
  - &front {id: 1_000, classroom: 0101, source: 0}
  - {<<: *front, id: 0x1F, source: 012}
  - {id: 1.50, classroom: yes, source: 12:30}
""")
    cameras = load_cameras(path)
    assert [(c.id, c.classroom, c.source) for c in cameras] == [
        ("1_000", "0101", "0"), ("0x1F", "0101", "012"), ("1.50", "yes", "12:30")]
    with pytest.raises(UsageError) as info:
        load_cameras(_write(tmp_path, "cameras: [{id: a, classroom: 12:30, source: x}]"))
    assert str(info.value).endswith("camera #1: classroom id '12:30' is invalid: use 1-64 "
                                    "letters, digits, '.', '_' or '-', starting with a letter or "
                                    "digit")


@pytest.mark.parametrize(("value", "kind"), [
    ('{url: "rtsp://admin:s3cret@cam.lan/live"}', "mapping"),
    ('["rtsp://admin:s3cret@cam.lan/live"]', "list"),
])
def test_a_source_that_is_no_single_value_is_refused_without_its_content(
    tmp_path: Path, value: str, kind: str
) -> None:
    """It became str(dict), password and all, in the error that followed."""
    path = _write(tmp_path, f"cameras:\n  - {{id: a, classroom: r, source: x}}\n"
                            f"  - {{id: b, classroom: r, source: {value}}}\n")
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == (
        f"{path}: camera #2: 'source' must be one value (a URL, a video file, a folder or a "
        f"webcam index), not a {kind}")


@pytest.mark.parametrize(("text", "where", "shown"), [
    ("cameras: [{id: a, classroom: r, source: x, 1: 2}]", "camera #1", "1 (a number, not a name)"),
    ("cameras: [{id: a, classroom: r, source: x, ~: 2, 2.5: 1}]", "camera #1",
     "2.5 (a number, not a name), None (null, not a name)"),
    ("7: 1\ncameras: [{id: a, classroom: r, source: x}]", "top level",
     "7 (a number, not a name)"),
], ids=["number", "null-and-float", "top-level"])
def test_a_key_that_is_no_name_is_one_line_naming_it(
    tmp_path: Path, text: str, where: str, shown: str
) -> None:
    """YAML keys need not be text: `1: 2` in a camera ended `classpulse produce` with a
    TypeError traceback (str.join of the unknown keys)."""
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value).startswith(f"{path}: {where}: unknown key(s) {shown}; allowed: ")


def test_an_unknown_key_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    """A key holding an escape sequence cleared the operator's terminal (and a newline split the
    message) when the error was printed; letters of any script still read as written."""
    path = _write(tmp_path, 'cameras: [{id: a, classroom: r, source: x, "\\e[2Jfps\\nZ\\u202e": 2,'
                            ' größe: 3}]\n')
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    message = str(info.value)
    assert "\x1b" not in message and "\n" not in message and "\u202e" not in message
    assert message.startswith(
        f"{path}: camera #1: unknown key(s) \\x1b[2Jfps\\nZ\\u202e, größe; allowed: ")


@pytest.mark.parametrize("flags", [["--camera", "front"], ["--classroom", "7B"],
                                   ["--camera", "front", "--classroom", "7B"]])
def test_config_with_a_single_cameras_flags_is_refused(tmp_path: Path, flags: list[str]) -> None:
    """`--config cameras.yaml --camera front` ran every camera of the file and ignored
    --camera without a word: an operator meaning one camera of the file got all of them."""
    path = _write(tmp_path, "cameras: [{id: front, classroom: 7B, source: rtsp://cam/live}]")
    args = build_parser().parse_args(["produce", "--config", str(path), *flags])
    with pytest.raises(UsageError) as info:
        cameras_from_args(args)
    given = ", ".join(f for f in flags if f.startswith("--"))
    assert str(info.value) == (
        f"give either --config FILE or --source/--camera/--classroom, not both (got --config and "
        f"{given}); a cameras.yaml names each camera's source, id and classroom itself")


@pytest.mark.parametrize("given", ["0", "-2"])
def test_partitions_must_be_a_count(given: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--partitions 0` meant "do not create the topic" without a word, and a topic gone mid-run
    then stopped the producer instead of being created again."""
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["produce", "--source", "rtsp://cam/live", "--camera", "front",
                                   "--classroom", "7B", "--partitions", given])
    assert info.value.code == 2
    assert f"argument --partitions: {int(given)} is not a count" in capsys.readouterr().err


def test_one_classrooms_cameras_at_different_fps_are_refused(tmp_path: Path) -> None:
    """A class minute adds its cameras' sightings: a back camera at 4 fps reading 5 happy faces
    beside a front one at 2 fps reading 20 neutral ones showed 33% happy, where the room was 20%."""
    path = _write(tmp_path, "fps: 2\ncameras:\n"
                  "  - {id: front, classroom: 7B, source: rtsp://cam/1}\n"
                  "  - {id: back, classroom: 7B, source: rtsp://cam/2, fps: 4}\n"
                  "  - {id: hall, classroom: 7C, source: rtsp://cam/3, fps: 1}\n")
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == (
        f"{path}: classroom '7B' has cameras at different fps (front fps=2, back "
        "fps=4); its shares add the cameras' face sightings, so the faster camera would weigh "
        "more: give them one fps (a top-level `fps:` or the same value on each)")


@pytest.mark.parametrize(("first", "second", "shown"), [
    ("rtsp://admin:s3cret@10.0.0.11/Streaming/Channels/101",
     "rtsp://admin:s3cret@10.0.0.11/Streaming/Channels/101",
     "rtsp://admin:***@10.0.0.11/Streaming/Channels/101"),
    # another login, the scheme's own port written out, scheme and host in capitals
    ("rtsp://admin:s3cret@cam-7.lan/live?ch=1", "RTSP://viewer:s3cret@CAM-7.lan:554/live?ch=1",
     "rtsp://admin:***@cam-7.lan/live?ch=1 and RTSP://viewer:***@CAM-7.lan:554/live?ch=1"),
    ("0", "/dev/video0", "0 and /dev/video0"),
    ("2", "002", "2 and 002"),
])
def test_two_cameras_reading_one_camera_are_refused(
    tmp_path: Path, first: str, second: str, shown: str
) -> None:
    """One stream listed under classroom 101 and again under 102 (a line copied, its id and
    classroom edited, not its source), or a webcam named by index and by path: both cameras
    were sent, each pupil counted twice, and in a room where they were not."""
    path = _write(tmp_path, "cameras:\n"
                  f"  - {{id: room101-front, classroom: '101', source: '{first}'}}\n"
                  "  - {id: room101-back, classroom: '101', source: rtsp://cam/back}\n"
                  f"  - {{id: room102-front, classroom: '102', source: '{second}'}}\n")
    with pytest.raises(UsageError) as info:
        load_cameras(path)
    assert str(info.value) == (
        f"{path}: cameras 'room101-front' and 'room102-front' read the same camera ({shown}), "
        "which would count each of its pupils twice, in classrooms '101' and '102'; give each "
        "camera its own source, or remove one of them")


def test_cameras_with_sources_of_their_own_are_kept(tmp_path: Path) -> None:
    """Another stream of one host (channel 101 and 102 are two cameras of one recorder), another
    port or path, another webcam: all distinct. A link under /dev/v4l/ leads to its device, so
    it is the webcam it names. A looped recording or a synthetic class may serve several
    cameras: they count no real pupil (a load is rehearsed so)."""
    video = _video(tmp_path / "lesson.avi")
    link = tmp_path / "by-id-cam"
    link.symlink_to("/dev/video4")
    path = _write(tmp_path, f"""loop: true
cameras:
  - {{id: a, classroom: r, source: rtsp://nvr/Streaming/Channels/101}}
  - {{id: b, classroom: r, source: rtsp://nvr/Streaming/Channels/102}}
  - {{id: c, classroom: r, source: rtsp://nvr:8554/Streaming/Channels/101}}
  - {{id: d, classroom: r, source: http://nvr/Streaming/Channels/101}}
  - {{id: e, classroom: r, source: "0"}}
  - {{id: f, classroom: r, source: /dev/video1}}
  - {{id: g, classroom: r, source: '{video}'}}
  - {{id: h, classroom: s, source: '{video}'}}
  - {{id: i, classroom: r, source: "synthetic:classroom"}}
  - {{id: j, classroom: s, source: "synthetic:classroom"}}
  - {{id: k, classroom: r, source: '{link}'}}
  - {{id: l, classroom: r, source: http://files.lan/clip.mp4}}
  - {{id: m, classroom: s, source: http://files.lan/clip.mp4}}
""")
    # l and m: an http(s) URL given loop: true says it serves a recording (it was refused)
    assert len(load_cameras(path)) == 13
    (tmp_path / "cameras.yaml").write_text(
        f"cameras: [{{id: a, classroom: r, source: '{link}'}}, "
        "{id: b, classroom: s, source: '4'}]")
    with pytest.raises(UsageError, match=rf"read the same camera \({link} and 4\)"):
        load_cameras(tmp_path / "cameras.yaml")


def test_a_flag_giving_every_camera_one_fps_settles_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "cameras:\n"
                  "  - {id: front, classroom: 7B, source: rtsp://cam/1, fps: 2}\n"
                  "  - {id: back, classroom: 7B, source: rtsp://cam/2, fps: 4}\n")
    assert [c.fps for c in load_cameras(path, {"fps": 1.0})] == [1.0, 1.0]


def _video(path: Path) -> Path:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


def _slides(folder: Path) -> Path:
    import cv2
    import numpy as np

    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.full((48, 64, 3), 90, np.uint8))
    return folder


def test_a_camera_file_refuses_a_file_or_folder_that_does_not_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """compose starts its producer with --config and `restart: unless-stopped`: a file or folder
    without loop ended, the producer exited, compose started it again, and the footage was sent
    again from its first frame under new captured_at and seq, counted twice, for ever. A camera
    file now holds only cameras that run until stopped; a one-off import is --source's."""
    from classpulse.cli import main

    video, folder = _video(tmp_path / "lesson.avi"), _slides(tmp_path / "slides")
    path = _write(tmp_path, f"""
cameras:
  - {{id: live, classroom: 7B, source: rtsp://cam/live}}
  - {{id: looped, classroom: 7B, source: '{video}', loop: true}}
  - {{id: recorded, classroom: 7B, source: '{video}'}}
""")

    def refusal(file: Path, camera: str, kind: str) -> str:
        return (f"{file}: camera {camera!r}: a {kind} needs loop: true in a camera file (a "
                "supervisor, compose's restart: or systemd, starts the producer again after any "
                "exit, and each start would send it again from its first frame, counted twice); "
                "set loop: true, or send it once with `classpulse produce --source FILE --camera "
                "ID --classroom ID`")

    with pytest.raises(UsageError) as info:
        cameras_from_args(build_parser().parse_args(["produce", "--config", str(path)]))
    assert str(info.value) == refusal(path, "recorded", "video file")
    slides = tmp_path / "slides.yaml"
    slides.write_text(f"loop: false\ncameras: [{{id: s, classroom: 7B, source: '{folder}'}}]")
    assert main(["produce", "--config", str(slides)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "classpulse produce: " + refusal(slides, "s", "folder of images")]
    # --loop on the command line loops every camera; --no-loop is refused as the file's false
    looped = cameras_from_args(build_parser().parse_args(
        ["produce", "--config", str(path), "--loop"]))
    assert [c.loop for c in looped] == [True, True, True]
    with pytest.raises(UsageError, match="camera 'looped': a video file needs loop: true"):
        cameras_from_args(build_parser().parse_args(
            ["produce", "--config", str(path), "--no-loop"]))
    # one run of a file, by hand or from a script, stays as it was
    (once,) = cameras_from_args(build_parser().parse_args(
        ["produce", "--source", str(video), "--camera", "c", "--classroom", "7B"]))
    assert (once.source, once.loop) == (str(video), False)


def test_a_looped_file_with_realtime_off_is_refused(tmp_path: Path) -> None:
    """`realtime: false` in a camera file sent a looped video as fast as it decoded (about 450
    frames a second on a small file), each frame stamped with the wall clock: that camera
    outweighed its classroom's other cameras 225 to 1 for as long as the service ran."""
    video = _video(tmp_path / "lesson.avi")
    path = _write(tmp_path, f"""
cameras:
  - {{id: live, classroom: 7B, source: rtsp://cam/live, realtime: false}}
  - {{id: looped, classroom: 7B, source: '{video}', loop: true, realtime: false}}
""")
    with pytest.raises(UsageError) as info:
        cameras_from_args(build_parser().parse_args(["produce", "--config", str(path)]))
    assert str(info.value) == (
        f"{path}: camera 'looped': a looped file with realtime off is sent as fast as it decodes, "
        "hundreds of frames a second, each stamped with the time it is sent: it would outweigh "
        "every other camera of its classroom for as long as it runs; leave realtime on (the "
        "default) to pace it like a live camera, or send it once, without loop")
    with pytest.raises(UsageError, match=r"^camera 'c': a looped file with realtime off"):
        cameras_from_args(build_parser().parse_args(
            ["produce", "--source", str(video), "--camera", "c", "--classroom", "7B", "--loop",
             "--no-realtime"]))
    # a live source is never paced, and a file sent once flat out is a one-off import
    path = _write(tmp_path, "cameras:\n  - {id: live, classroom: 7B, source: rtsp://cam/live, "
                  "realtime: false}\n")
    (live,) = cameras_from_args(build_parser().parse_args(["produce", "--config", str(path)]))
    assert live.realtime is False
    (once,) = cameras_from_args(build_parser().parse_args(
        ["produce", "--source", str(video), "--camera", "c", "--classroom", "7B",
         "--no-realtime"]))
    assert (once.loop, once.realtime) == (False, False)
