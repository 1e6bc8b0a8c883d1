"""Safe edits of files podspawn shares with other programs (sshd_config, ~/.ssh/config).

podspawn owns one marker-delimited block in such a file and nothing else. Writes go to a
temporary file beside the target with the target's owner and mode, are fsynced, and replace
it with ``os.replace``, so a reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
import re
import tempfile

BEGIN = "# BEGIN podspawn"
END = "# END podspawn"


def find_block(text: str) -> tuple[int, int] | None:
    """Character offsets (start, end) of podspawn's block, end included its newline."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    end = text.find(END, start)
    if end < 0:
        return None
    # the BEGIN nearest the END: a BEGIN whose END an admin deleted stays theirs, untouched
    start = text.rfind(BEGIN, start, end)
    end = text.find("\n", end)
    return start, (len(text) if end < 0 else end + 1)


def first_match_offset(text: str) -> int | None:
    """Offset of the first top-level ``Match`` line outside podspawn's block, if any."""
    block = find_block(text)
    for match in re.finditer(r"(?im)^[ \t]*match[ \t]", text):
        if block and block[0] <= match.start() < block[1]:
            continue
        return match.start()
    return None


def with_block(
    text: str, block: str, *, before_match: bool = False, at: int | None = None
) -> str:
    """``text`` with podspawn's block set to ``block`` (which carries both markers).

    An existing block is replaced in place. Otherwise the block is added at the end, or at
    offset ``at``, or, with ``before_match``, just before the first ``Match`` line so that
    it stays global.
    """
    if not block.endswith("\n"):
        block += "\n"
    found = find_block(text)
    if found:
        return text[: found[0]] + block + text[found[1] :]
    if at is None and before_match:
        at = first_match_offset(text)
    if at is None:
        head = text if (not text or text.endswith("\n")) else text + "\n"
        sep = "\n" if head and not head.endswith("\n\n") else ""
        return head + sep + block
    head = text[:at]
    sep = "" if (not head or head.endswith("\n\n")) else "\n"
    return head + sep + block + "\n" + text[at:]


def atomic_write(
    path: str,
    data: bytes,
    *,
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` atomically, keeping (or setting) owner and mode."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(path)
        mode = st.st_mode & 0o7777 if mode is None else mode
        uid = st.st_uid if uid is None else uid
        gid = st.st_gid if gid is None else gid
    except FileNotFoundError:
        mode = 0o644 if mode is None else mode
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if (uid is not None or gid is not None) and os.geteuid() == 0:
            os.chown(tmp, -1 if uid is None else uid, -1 if gid is None else gid)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
