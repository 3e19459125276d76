"""The one exception type users see.

Every message says what was received, what was expected and how to fix it, on one line.
The CLI prints it without a traceback and exits with status 2.
"""

import errno

# what a user can do about the usual operating-system errors
_REMEDIES = {
    errno.EROFS: "the file system is read-only — choose a writable folder",
    errno.EACCES: "no permission — choose a folder you can write, or fix its permissions",
    errno.EPERM: "not permitted — choose a folder you can write, or fix its permissions",
    errno.ENOSPC: "the disk is full — free some space or choose another disk",
    errno.EDQUOT: "the disk quota is exhausted — free some space or choose another disk",
    errno.ENAMETOOLONG: "the name is too long for the file system — use shorter names",
    errno.ENOENT: "it does not exist — check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder — check the path",
    errno.EISDIR: "it is a folder, not a file — check the path",
    errno.EEXIST: "it already exists — choose another name",
    errno.EIO: "the device reported an input/output error — check the disk",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: the path, what failed, what to do."""
    path = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        path = f"{path} -> {exc.filename2}"
    what = exc.strerror or type(exc).__name__
    remedy = _REMEDIES.get(exc.errno, "check the path and retry")
    return f"{path}: {what}; {remedy}"


class PhendiffError(ValueError):
    """Bad input or state that the user can fix; the message is a single line."""
