"""A slider with typed entry for one number, on the scale that suits it (the registry's
``engine.parameters.Slider`` says which: ``ParameterSlider.for_parameter``).

Scales: ``linear``; ``log`` for values spanning decades (learning rate, ε, weight decay);
``log1m`` for values close to 1 where what matters is 1 − x (β₂ = 0.9, 0.99, 0.999 are
evenly spaced); ``int`` and ``intlog`` for whole numbers. With ``zero_at_min`` the leftmost
position means 0 ("off"), which a log scale can't otherwise reach.

The slider follows the mouse (``sig_value_changed`` while dragging); the text box takes any
number, also beyond the slider's range (the slider then rests at its end). Whether the value
is acceptable is the engine's business: ``show_error`` marks a refused value.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QSizePolicy, QWidget
from superqt import QDoubleSlider

from engine.parameters import Parameter, Slider

SCALES = ("linear", "log", "log1m", "int", "intlog")
RESOLUTION = 400  # slider positions across the range


class _WheelGuard(QObject):
    """Scrolling a panel must not change the slider or list that passes under the mouse:
    the wheel reaches such a control only once it has been clicked (has the focus)."""

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()
            return True
        return False


_GUARD = _WheelGuard()


def guard_wheel(*widgets: QWidget) -> None:
    for widget in widgets:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.installEventFilter(_GUARD)


def format_value(value: float, integer: bool = False) -> str:
    if integer:
        return str(round(value))
    if value == 0:
        return "0"
    text = f"{value:.4g}"
    return text.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


class ParameterSlider(QWidget):
    sig_value_changed = Signal(float)  # while dragging and after typing
    sig_released = Signal()

    def __init__(
        self,
        minimum: float,
        maximum: float,
        *,
        scale: str = "linear",
        zero_at_min: bool = False,
        zero_text: str = "0",
        tooltip: str = "",
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}")
        self.scale = scale
        self.zero_at_min = zero_at_min
        self.zero_text = zero_text  # how 0 reads: "off", "auto"
        self._value = minimum
        self._tooltip = tooltip
        self._u_min = self._to_u(minimum)
        self._u_max = self._to_u(maximum)

        self.slider = QDoubleSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(self._u_min, self._u_max)
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.slider.setMinimumWidth(90)
        guard_wheel(self.slider)
        self.edit = QLineEdit()
        self.edit.setFixedWidth(70)
        self.edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.edit)
        self.setToolTip(tooltip)

        self.slider.valueChanged.connect(self._on_slider_moved)
        self.slider.sliderReleased.connect(self.sig_released)
        self.edit.editingFinished.connect(self._on_text_entered)
        self._show(minimum)

    @classmethod
    def for_parameter(cls, p: Parameter, context: str = "*") -> ParameterSlider:
        """The registry's slider for ``p`` (its tooltip the entry's formula)."""
        spec = p.slider_for(context)
        slider = cls(
            spec.minimum,
            spec.maximum,
            scale=spec.scale,
            zero_at_min=spec.zero_at_min,
            zero_text=spec.zero_text,
            tooltip=p.tip,
        )
        slider.set_spec(spec, p.default_for(context))
        return slider

    def set_spec(self, spec: Slider, centre: float | None = None) -> None:
        """Take ``spec``'s scale and range (``centre``: where a ``decades`` window sits)."""
        self._spec, self._centre = spec, centre
        self.scale = spec.scale
        self.zero_at_min = spec.zero_at_min
        self.zero_text = spec.zero_text
        if spec.decades:
            self._window(self._value)
        elif (self._to_u(spec.minimum), self._to_u(spec.maximum)) != (self._u_min, self._u_max):
            self.set_range(spec.minimum, spec.maximum)

    def _window(self, value: float) -> None:
        """The range shown: the spec's, or ``decades`` of it around the centre, moved to
        contain ``value`` (half a decade inside the edge)."""
        spec = getattr(self, "_spec", None)
        if spec is None or not spec.decades or not self._centre:
            return
        floor, ceiling = math.log10(spec.minimum), math.log10(spec.maximum) - spec.decades
        u_lo = math.log10(self._centre) - spec.decades / 2
        if value > 0:
            u = math.log10(value)
            u_lo = min(max(u_lo, u + 0.5 - spec.decades), u - 0.5)
        u_lo = min(max(u_lo, floor), ceiling)
        lo, hi = 10.0**u_lo, 10.0 ** (u_lo + spec.decades)
        if (self._to_u(lo), self._to_u(hi)) != (self._u_min, self._u_max):
            self.set_range(lo, hi)

    @property
    def integer(self) -> bool:
        return self.scale in ("int", "intlog")

    # ---- the scale ---------------------------------------------------------------------------
    def _to_u(self, value: float) -> float:
        if self.scale in ("log", "intlog"):
            return math.log10(max(value, 1e-300))
        if self.scale == "log1m":
            return -math.log10(max(1.0 - value, 1e-300))
        return float(value)

    def _from_u(self, u: float) -> float:
        if self.zero_at_min and u <= self._u_min + 1e-9:
            return 0.0
        if self.scale == "log":
            return 10.0**u
        if self.scale == "intlog":
            return float(round(10.0**u))
        if self.scale == "log1m":
            return 1.0 - 10.0 ** (-u)
        if self.scale == "int":
            return float(round(u))
        return u

    def set_range(self, minimum: float, maximum: float) -> None:
        self._u_min, self._u_max = self._to_u(minimum), self._to_u(maximum)
        self.slider.blockSignals(True)
        self.slider.setRange(self._u_min, self._u_max)
        self.slider.blockSignals(False)
        self._show(self._value)

    def setToolTip(self, text: str) -> None:
        self._tooltip = text
        super().setToolTip(text)
        self.slider.setToolTip(text)
        self.edit.setToolTip(text + ("\n\n" if text else "") + "Type a value and press Enter.")

    # ---- value -------------------------------------------------------------------------------
    def value(self) -> float:
        return round(self._value) if self.integer else self._value

    def setValue(self, value: float) -> None:
        """Show ``value`` without emitting anything."""
        self._show(value)

    def _show(self, value: float) -> None:
        self._value = float(value)
        if not self.slider.isSliderDown():
            self._window(self._value)
        if value == 0 and self.zero_at_min:
            u = self._u_min
        else:
            u = min(max(self._to_u(value), self._u_min), self._u_max)
        if not self.slider.isSliderDown():  # never fight the mouse that drags it
            self.slider.blockSignals(True)
            self.slider.setValue(u)
            self.slider.blockSignals(False)
        if not self.edit.hasFocus() or self.edit.text() != self._text(value):
            self.edit.setText(self._text(value))
        self.clear_error()

    def _text(self, value: float) -> str:
        return self.zero_text if value == 0 else format_value(value, self.integer)

    def _snap(self, u: float) -> float:
        """Round a dragged value to a readable number (3 significant digits)."""
        value = self._from_u(u)
        if self.integer or value == 0:
            return value
        if self.scale == "log1m":  # 0.9995 keeps its 5: round 1 − x instead
            return 1.0 - float(f"{1.0 - value:.3g}")
        return float(f"{value:.3g}")

    def _on_slider_moved(self, u: float) -> None:
        value = self._snap(u)
        if value == self._value:
            return
        self._value = value
        self.edit.setText(self._text(value))
        self.sig_value_changed.emit(float(self.value()))

    def _on_text_entered(self) -> None:
        text = self.edit.text().strip().lower()
        try:
            zero = ("off", "none", "auto", "", self.zero_text.lower())
            value = 0.0 if text in zero else float(text)
        except ValueError:
            self.show_error(f"{text!r} is not a number")
            return
        if not math.isfinite(value):
            self.show_error("must be a finite number")
            return
        if self.integer:
            value = float(round(value))
        if value == self._value:
            self.clear_error()
            return
        self._show(value)
        self.sig_value_changed.emit(float(self.value()))

    # ---- errors ------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.edit.setStyleSheet("QLineEdit { border: 1px solid #e03131; }")
        self.edit.setToolTip(f"Not applied: {message}\n\n{self._tooltip}")

    def clear_error(self) -> None:
        if self.edit.styleSheet():
            self.edit.setStyleSheet("")
            self.edit.setToolTip(self._tooltip)
