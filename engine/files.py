"""Writing files so that a crash or a full disk never leaves half of one behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """A temporary file beside ``path`` (same suffix, so writers that go by it still can) to
    write to: it replaces ``path``, readable by all, when the block ends, and is removed if
    the block fails, leaving any old ``path`` as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results and experiments are not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_text(path: str | os.PathLike, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text file written in place of ``path`` at once, on disk before the rename."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
