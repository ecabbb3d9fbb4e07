"""Preferences kept between sessions (QSettings): window layout, theme, last folder,
recent files, playback speed.

``DESCENT_LAB_SETTINGS=/path/file.ini`` (or ``Settings(path)``) keeps them in an INI file
instead of the platform's store: the tests and the self-test use it so that they never touch
a user's preferences.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "DescentLab"
APPLICATION = "Descent Lab"
MAX_RECENT = 8


class Settings:
    def __init__(self, path: str | os.PathLike | None = None):
        path = path or os.environ.get("DESCENT_LAB_SETTINGS")
        if path:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(ORGANIZATION, APPLICATION)

    # ---- plain values -------------------------------------------------------------------
    def _get(self, key: str, default, kind=None):
        value = self._qs.value(key, default)
        if value is None:
            return default
        if kind is bool and isinstance(value, str):  # INI files give strings back
            return value.lower() in ("1", "true", "yes")
        if kind is not None:
            try:
                return kind(value)
            except (TypeError, ValueError):
                return default
        return value

    @property
    def theme(self) -> str:
        value = self._get("appearance/theme", "light", str)
        return value if value in ("light", "dark") else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        self._qs.setValue("appearance/theme", value)

    @property
    def last_dir(self) -> str:
        value = self._get("files/last_dir", "", str)
        return value if value and Path(value).is_dir() else str(Path.home())

    @last_dir.setter
    def last_dir(self, value: str | os.PathLike) -> None:
        self._qs.setValue("files/last_dir", str(value))

    @property
    def speed(self) -> float:
        return self._get("playback/speed", 60.0, float)

    @speed.setter
    def speed(self, value: float) -> None:
        self._qs.setValue("playback/speed", float(value))

    @property
    def show_arrows(self) -> bool:
        return self._get("view/show_arrows", False, bool)

    @show_arrows.setter
    def show_arrows(self, value: bool) -> None:
        self._qs.setValue("view/show_arrows", bool(value))

    # ---- window ---------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)

    # ---- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self._qs.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v and Path(str(v)).is_file()][:MAX_RECENT]

    def add_recent_file(self, path: str | os.PathLike) -> list[str]:
        path = str(Path(path).resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self._qs.setValue("files/recent", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def clear_recent_files(self) -> None:
        self._qs.setValue("files/recent", [])

    def sync(self) -> None:
        self._qs.sync()
