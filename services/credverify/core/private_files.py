"""Files that hold a practitioner's details (credentials, presentations): readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from credverify.core.errors import ConfigurationError


def write_private(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600 whatever the umask, never through a symbolic link.
    Without ``replace`` an existing file is refused. Raises ConfigurationError naming the path."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if replace else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigurationError("%s exists already; refusing to overwrite it" % path) from exc
    except OSError as exc:
        raise ConfigurationError("cannot write %s: %s" % (path, exc.strerror)) from exc
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)
