"""Neural differential equation models; each solves through ``ndestudio.core.solvers``."""

from ndestudio.core.models.cde import NeuralCDE
from ndestudio.core.models.latent_sde import LatentSDE
from ndestudio.core.models.mlp import MLP, LipSwish, VectorField
from ndestudio.core.models.ode import NeuralODE
from ndestudio.core.models.sde import CDEDiscriminator, NeuralSDE

__all__ = [
    "MLP",
    "CDEDiscriminator",
    "LatentSDE",
    "LipSwish",
    "NeuralCDE",
    "NeuralODE",
    "NeuralSDE",
    "VectorField",
]
