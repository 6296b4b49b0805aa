"""The error of a solve that broke down."""


class SolverFailure(RuntimeError):
    """The solver broke down on the learned dynamics ("max_num_steps exceeded", "underflow
    in dt"): torchdiffeq says so with an ``AssertionError``, which this layer names; the fast
    engine raises it with the same words."""
