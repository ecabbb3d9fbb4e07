"""Shared pytest setup: the repository root is importable (``import engine``) without an
editable install."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
