"""Training: per-family tasks, the event-generating trainer, and checkpoints."""

from ndestudio.core.training.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ndestudio.core.training.trainer import Trainer

__all__ = ["Checkpoint", "CheckpointError", "Trainer", "load_checkpoint"]
