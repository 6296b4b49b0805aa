"""Export of trained models as self-contained files (TorchScript): networks, a solver written
in TorchScript, normalisation statistics, the run spec — verified in a fresh process."""

from ndestudio.core.export.exporter import ExportReport, export_checkpoint, export_trained
from ndestudio.core.export.options import ExportError, ExportOptions, export_methods
from ndestudio.core.export.verify import CaseResult

__all__ = [
    "CaseResult",
    "ExportError",
    "ExportOptions",
    "ExportReport",
    "export_checkpoint",
    "export_methods",
    "export_trained",
]
