"""Result folders that are replaced in one step: a run writes into a fresh folder next to its final place and
swaps it in, so that a re-run leaves no file of an older run and a run killed at any moment (kill -9 included)
leaves either the old complete result or the new one, never a mix.

The swap is one atomic rename where the system has it (Linux renameat2 RENAME_EXCHANGE); elsewhere it is
the dance old -> `.NAME.mars-count-old-*`, new -> NAME, then the old one is deleted, and the next run into the
same place puts the old result back if a kill came between the two renames. Leftovers of dead runs are
removed before a new run writes.
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

# The marker in the names of the folders a run keeps next to its result: new (being written), old (the
# previous result between the two renames of the dance) and del (being deleted).
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.mars-count-(?P<kind>new|old|del)-(?P<pid>\d+)-[0-9a-f]+$")
# Kernel file systems where a result would vanish or cannot be written at all.
VIRTUAL_FILE_SYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))
# A folder holding one of these is a mars-count result, which a re-run may replace.
RESULT_MARKERS = ("summary.json", "merge_summary.json")

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class ResultLocationError(ValueError):
    """The output location cannot hold a result (a file, unwritable, virtual, or someone else's folder)."""


def _sibling(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.mars-count-{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _discard(folder: Path, final: Path) -> None:
    """Delete a folder that is no longer a result: renamed first, so that a kill mid-way is seen as rubbish."""
    doomed = _sibling(final, "del")
    os.rename(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def replace_folder(new: Path, final: Path) -> None:
    """Put the complete folder new at final, replacing what was there in one step (see the module doc)."""
    if not final.exists():
        os.rename(new, final)
        return
    if _exchange(new, final):
        _discard(new, final)   # new now holds the old result
        return
    old = _sibling(final, "old")
    os.rename(final, old)
    os.rename(new, final)
    _discard(old, final)


def remove_leftovers(final: Path) -> None:
    """Clean up after runs into final that were killed: their half-written folders go, and an old result that
    was moved aside for the swap comes back if the new one never arrived."""
    if not final.parent.is_dir():
        return
    restore: Optional[Path] = None
    for entry in sorted(final.parent.iterdir()):
        match = _LEFTOVER.match(entry.name)
        if match is None or match["name"] != final.name or _alive(int(match["pid"])):
            continue
        if match["kind"] == "old" and restore is None and not final.exists():
            restore = entry
            continue
        shutil.rmtree(entry, ignore_errors=True)
    if restore is not None:
        os.rename(restore, final)


def remove_all_leftovers(folder: Path) -> None:
    """Remove every leftover folder below folder, whoever wrote it: for a season folder once all its bags
    are done, where a worker that died mid-bag (on any machine) left its half-written result."""
    for root, dirs, _ in os.walk(folder):
        for name in list(dirs):
            if _LEFTOVER.match(name):
                shutil.rmtree(Path(root) / name, ignore_errors=True)
                dirs.remove(name)


def new_folder_next_to(final: Path) -> Path:
    """A fresh, empty folder on final's file system to write a result into (leftovers of dead runs removed)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    folder = _sibling(final, "new")
    folder.mkdir()
    return folder


def discard_new_folder(folder: Path) -> None:
    """Remove a folder from new_folder_next_to that will not be published."""
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def result_folder(final: Path) -> Iterator[Path]:
    """Write into the yielded folder; when the block ends normally it replaces final in one step, when it
    raises nothing at final changes."""
    final = real_place(final)
    folder = new_folder_next_to(final)
    try:
        yield folder
    except BaseException:
        discard_new_folder(folder)
        raise
    replace_folder(folder, final)


def real_place(path: Path) -> Path:
    """The folder a symlink points to (the link stays), else the path itself."""
    return path.resolve() if path.is_symlink() else path


def is_leftover(path: Path) -> bool:
    """A folder that a mars-count run keeps next to a result while it writes or swaps it."""
    return _LEFTOVER.match(path.name) is not None


def is_result_folder(folder: Path) -> bool:
    """A folder written by mars-count (single bag or season)."""
    return any((folder / marker).is_file() for marker in RESULT_MARKERS)


def check_result_location(out: Path, inputs: Sequence[Path] = ()) -> None:
    """ResultLocationError unless out can be (re)placed by a new result: not a file, not under /proc, /sys or
    /dev, not holding the inputs or someone else's files, and its parent writable. Checked before any work."""
    target = out.resolve()
    for virtual in VIRTUAL_FILE_SYSTEMS:
        if target == virtual or virtual in target.parents:
            raise ResultLocationError(f"--out {out} is under {virtual}, a kernel file system that cannot hold "
                                      f"results; choose a folder on a disk")
    if out.exists() and not out.is_dir():
        raise ResultLocationError(f"--out {out} is an existing file, not a folder; choose a folder (it is "
                                  f"created, or replaced if it holds an earlier result)")
    for source in inputs:
        source = source.resolve()
        if source == target or target in source.parents:
            raise ResultLocationError(f"--out {out} contains the input {source}; a new result replaces the "
                                      f"whole folder, so choose one outside the input")
    if target.is_dir() and any(target.iterdir()) and not is_result_folder(target):
        raise ResultLocationError(f"--out {out} holds files that are not a mars-count result (no "
                                  f"{' or '.join(RESULT_MARKERS)}); a new result replaces the whole folder, so "
                                  f"choose a new or empty folder")
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ResultLocationError(f"--out {out}: {ancestor} is a file, so no folder can be made below it")
    probe = ancestor / f".mars-count-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ResultLocationError(f"--out {out}: cannot write in {ancestor} ({exc.strerror})") from None
    if target.is_dir() and not os.access(target, os.W_OK | os.X_OK):
        raise ResultLocationError(f"--out {out}: no permission to replace the earlier result there")
