"""A frozen copy of a trainer inspects the weights it was taken with, whatever the
original does afterwards, and shares no module or random generator with it."""

from __future__ import annotations

import numpy as np
import torch

from ndestudio.core.inspect import sde_statistics, validation_confusion
from ndestudio.core.inspect.frozen import frozen_copy
from ndestudio.core.training import Trainer
from tests.conftest import small_spec


def test_a_frozen_sde_gan_samples_the_weights_it_was_taken_with():
    trainer = Trainer(small_spec("sde", iterations=2))
    list(trainer.run())
    frozen = frozen_copy(trainer)
    before = sde_statistics(frozen, 32, seed=3).model_paths
    np.testing.assert_array_equal(before, sde_statistics(trainer, 32, seed=3).model_paths)
    task, copied = trainer.task, frozen.task
    for name in ("generator_model", "discriminator", "average"):
        assert getattr(copied, name) is not getattr(task, name)
        assert any(getattr(copied, name) is m for m in frozen.model.children())
    assert frozen.generator is not trainer.generator and copied.generator is frozen.generator
    with torch.no_grad():  # the original moves on: the copy does not
        for p in trainer.model.parameters():
            p.add_(0.5)
    np.testing.assert_array_equal(sde_statistics(frozen, 32, seed=3).model_paths, before)
    assert not np.array_equal(sde_statistics(trainer, 32, seed=3).model_paths, before)


def test_a_frozen_cde_scores_like_the_original():
    trainer = Trainer(small_spec("cde", iterations=2))
    list(trainer.run())
    frozen = frozen_copy(trainer)
    assert frozen.task.model is frozen.model and frozen.model is not trainer.model
    np.testing.assert_array_equal(
        validation_confusion(frozen).matrix, validation_confusion(trainer).matrix
    )
