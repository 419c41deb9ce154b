"""Before a device call: would what travels fit, and would the carried wheels install?

    python3 scripts/gpu_carry_check.py [--limit-mib 63] CARRY...

CARRY: the paths the call's ``carry`` names. What travels is the checkout's tracked files, its
untracked files that git does not ignore, a ``shared/`` folder inside the checkout, and the
carried paths: 64 MiB in all, or the call is refused after the machine's start has been paid for
(/work/.library/device/README.md). This sums the same from the working tree and refuses above
``--limit-mib`` (63: a mebibyte kept for files that change before the call) in one line. Wheels
among the carried paths (``.whl/`` or ``*.whl``) are checked too: one version of each package
(two stop the whole offline install there) and tags the GPU machine's Python 3.12 on x86-64 Linux
takes, by their file names and by ``pip install --dry-run`` for that Python and platform (a few
seconds; ``--no-pip`` skips it). Exit status 0 when it fits, 1 when it does not or a wheel would not
install, 2 on a carried path that does not exist (the device would remove it there) or lies
outside the checkout. The checkout is the one this script is in (not the working directory's);
carried paths are resolved (``..`` and links) before they are matched. A nested git repository
(a submodule or a clone inside the checkout) travels without its files unless carried, so its
files are not counted unless a carried path holds them. Needs only the standard library (and
pip for the dry run).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

MIB = 1 << 20
LIMIT_MIB = 63.0
DEVICE_LIMIT_MIB = 64
PYTHON = (3, 12)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)"
                   r"-(?P<plat>[^-]+)\.whl$")


ROOT = Path(__file__).resolve().parents[1]  # the checkout this script belongs to


def git_files(root: Path, *args: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", *args], cwd=root, capture_output=True,
                         check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def nested_repos(root: Path) -> list[str]:
    """Folders (relative to ``root``) holding a git repository of their own: git lists a
    submodule, or an untracked clone, as one entry, whose files do not travel uncarried."""
    found = []
    for d, dirs, files in os.walk(root):
        here = Path(d)
        if here != root and (".git" in dirs or ".git" in files):
            found.append(here.relative_to(root).as_posix())
            dirs[:] = []
            continue
        dirs[:] = [x for x in dirs if x != ".git"]
    return found


def size_of(path: Path) -> int:
    """Bytes of a file (a link counts as itself: it travels as a link), or of a folder's files."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        total += sum((Path(folder) / f).lstat().st_size for f in files)
    return total


def wheel_problems(wheels: list[Path]) -> list[str]:
    """Why these wheels would not install together on the GPU machine (empty: they would)."""
    problems: list[str] = []
    versions: dict[str, list[str]] = defaultdict(list)
    for w in wheels:
        m = WHEEL.match(w.name)
        if not m:
            problems.append(f"{w.name}: not a wheel file name")
            continue
        versions[re.sub(r"[-_.]+", "-", m["name"]).lower()].append(w.name)
        if not any(python_ok(t, m["abi"]) for t in m["py"].split(".")):
            problems.append(f"{w.name}: not for CPython {PYTHON[0]}.{PYTHON[1]}")
        if not any(p == "any" or (p.endswith("_x86_64") and p.startswith(("manylinux", "linux_")))
                   for p in m["plat"].split(".")):
            problems.append(f"{w.name}: not for x86-64 Linux (glibc)")
    for name, files in sorted(versions.items()):
        if len(files) > 1:
            problems.append(f"{name}: {len(files)} versions ({', '.join(sorted(files))}): pip "
                            f"installs none of the wheels then; keep one")
    return problems


def pip_dry_run(wheels: list[Path]) -> list[str]:
    """pip's own verdict on installing the wheels together as the GPU machine's Python would."""
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--no-index",
                           "--no-deps", "--only-binary=:all:", "--python-version",
                           f"{PYTHON[0]}.{PYTHON[1]}", "--implementation", "cp", *platforms,
                           "--target", "/nonexistent-pip-dry-run", *map(str, wheels)],
                          capture_output=True, text=True)
    if "No module named pip" in done.stderr:
        return []
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")]
    return [f"pip install --dry-run: {errors[0] if errors else f'exit {done.returncode}'}"] if (
        done.returncode or errors) else []


def python_ok(tag: str, abi: str) -> bool:
    if tag in ("py3", f"py{PYTHON[0]}{PYTHON[1]}"):
        return abi in ("none", "abi3") or abi == f"cp{PYTHON[0]}{PYTHON[1]}"
    m = re.fullmatch(r"cp(\d)(\d+)", tag)
    if not m:
        return False
    version = (int(m[1]), int(m[2]))
    if abi == "abi3":
        return version[0] == PYTHON[0] and version <= PYTHON
    return version == PYTHON and abi in ("none", f"cp{PYTHON[0]}{PYTHON[1]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("carry", nargs="*", help="the paths the call's carry names")
    p.add_argument("--limit-mib", type=float, default=LIMIT_MIB,
                   help=f"refuse above this (default {LIMIT_MIB:g}; the device's limit is "
                   f"{DEVICE_LIMIT_MIB})")
    p.add_argument("--no-pip", action="store_true", help="check the wheels by name only")
    args = p.parse_args(argv)
    root = ROOT
    nested = nested_repos(root)

    def in_nested(rel: str) -> bool:
        return any(rel == n or rel.startswith(n + "/") for n in nested)

    # a nested repository is listed as one entry (a gitlink, or "dir/"): its files stay behind
    tracked = {f for f in git_files(root, "--cached")
               if os.path.lexists(root / f) and not in_nested(f.rstrip("/"))}
    untracked = {f for f in git_files(root, "--others", "--exclude-standard")
                 if not in_nested(f.rstrip("/"))} - tracked
    counted = tracked | untracked
    sizes = {"tracked": sum(size_of(root / f) for f in tracked),
             "untracked": sum(size_of(root / f) for f in untracked), "shared": 0, "carried": 0}
    if (root / "shared").is_dir():  # travels whole; what git already listed counts once
        sizes["shared"] = sum(size_of(Path(d) / f) for d, _, fs in os.walk(root / "shared")
                              for f in fs
                              if (Path(d) / f).relative_to(root).as_posix() not in counted)
    wheels: list[Path] = []
    for c in args.carry:
        given = root / c  # carry's paths are relative to the repository root
        if not os.path.lexists(given):
            print(f"carry check: REFUSED: {c} does not exist here (the call would remove it on "
                  f"the device)")
            return 2
        # ".." resolved; a link itself travels as a link, so only its folder is resolved
        path = (given.parent.resolve() / given.name) if given.is_symlink() else given.resolve()
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            print(f"carry check: REFUSED: {c} is outside the checkout {root}")
            return 2
        if path.is_dir() and not path.is_symlink():
            for d, _, fs in os.walk(path):
                for f in fs:
                    file = Path(d) / f
                    if file.relative_to(root).as_posix() not in counted:
                        sizes["carried"] += file.lstat().st_size
                    if f.endswith(".whl"):
                        wheels.append(file)
        else:
            if rel not in counted:
                sizes["carried"] += size_of(path)
            if path.name.endswith(".whl"):
                wheels.append(path)
    total = sum(sizes.values())
    parts = ", ".join(f"{k} {v / MIB:.1f}" for k, v in sizes.items() if v or k != "shared")
    problems = wheel_problems(wheels)
    if wheels and not problems and not args.no_pip:
        problems = pip_dry_run(wheels)
    for line in problems:
        print(f"carry check: wheel: {line}")
    if total > args.limit_mib * MIB:
        print(f"carry check: REFUSED: {total / MIB:.1f} MiB would travel ({parts} MiB), over "
              f"the {args.limit_mib:g} MiB allowed (the device takes {DEVICE_LIMIT_MIB}): carry "
              f"less or delete untracked files")
        return 1
    if problems:
        print(f"carry check: REFUSED: {len(problems)} wheel problem(s) above; rm -rf .whl and "
              f"download again (scripts/README.md)")
        return 1
    wheel_note = f", {len(wheels)} wheels, one version each" if wheels else ""
    print(f"carry check: OK, {total / MIB:.1f} MiB would travel ({parts} MiB) of the "
          f"{args.limit_mib:g} MiB allowed{wheel_note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
