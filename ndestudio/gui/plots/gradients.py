"""Gradient norms per step: the global norm and each layer's."""

from __future__ import annotations

from ndestudio.core import events as ev
from ndestudio.gui.plots.base import COLORS, LivePlot
from ndestudio.gui.plots.buffers import Series

MAX_LAYERS = 8


class GradientPlot(LivePlot):
    def __init__(self) -> None:
        super().__init__("Gradient norm", "‖∇θ‖", "iteration", log_y=True)
        self.total = Series()
        self.total_curve = self.curve("global", "#000000", 1.0)
        self.layers: dict[str, Series] = {}
        self.layer_curves: dict[str, object] = {}

    def add(self, event: ev.Event) -> None:
        if not isinstance(event, ev.Step):
            return
        self.total.append(event.iteration, event.grad_norm)
        for name, value in event.layer_grad_norms.items():
            if name not in self.layers:
                if len(self.layers) >= MAX_LAYERS:
                    continue
                self.layers[name] = Series()
                color = COLORS[len(self.layer_curves) % len(COLORS)]
                self.layer_curves[name] = self.curve(short_name(name), color, 1.0, alpha=160)
            self.layers[name].append(event.iteration, value)
        self.dirty = True

    def redraw(self) -> None:
        self.total_curve.setData(self.total.x, self.total.y)
        for name, series in self.layers.items():
            self.layer_curves[name].setData(series.x, series.y)  # type: ignore[attr-defined]
        everything = [self.total, *self.layers.values()]
        self.follow_data(
            self.total.x_max,
            min(s.y_min_positive for s in everything),
            max(s.y_max for s in everything),
            log_y=True,
        )
        self.dirty = False

    def clear_data(self) -> None:
        self.total.clear()
        for curve in self.layer_curves.values():
            self.getPlotItem().removeItem(curve)
        self.forget_keys({short_name(name) for name in self.layers})
        self.layers.clear()
        self.layer_curves.clear()
        self.redraw()


def short_name(name: str) -> str:
    """A layer's legend label: ``field.mlp.net.2`` → ``layer 2``, ``readout`` stays."""
    kept = [part for part in name.split(".") if part not in {"field", "func", "mlp", "net"}]
    if not kept:
        return name
    if kept[-1].isdigit():
        kept[-1] = f"layer {kept[-1]}"
    return ".".join(kept[-2:])  # the last two parts name it; a full path overflowed the plot
