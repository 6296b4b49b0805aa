"""Fixed-step SDE solvers in TorchScript, step for step torchsde's ``sdeint`` loop: the same
time grid (steps of ``dt`` from ``ts[0]``, the last one cut at ``ts[-1]``), the same update
formulas and the same linear interpolation onto the output times."""

import torch
from torch import Tensor, nn

# Exportable methods and the SDE type each solves.
SDE_EXPORT_METHODS = {
    "euler": "ito",
    "midpoint": "stratonovich",
    "heun": "stratonovich",
    "reversible_heun": "stratonovich",
}


class SDEFields(nn.Module):
    """Drift ``f(t, y)`` and diffusion ``g(t, y)`` with torchsde's noise-type shapes."""

    def __init__(
        self,
        drift: nn.Module,
        diffusion: nn.Module,
        noise_type: str,
        hidden: int,
        brownian_size: int,
    ) -> None:
        super().__init__()
        self.drift = drift
        self.diffusion = diffusion
        self.noise_type = noise_type
        self.hidden = hidden
        self.brownian_size = brownian_size

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.drift(t, y, [y])

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        out = self.diffusion(t, y, [y])
        if self.noise_type == "diagonal":
            return out
        return out.view(y.size(0), self.hidden, self.brownian_size)

    def prod(self, g: Tensor, dw: Tensor) -> Tensor:
        if self.noise_type == "diagonal":
            return g * dw
        return torch.bmm(g, dw.unsqueeze(-1)).squeeze(-1)


class SDESolver(nn.Module):
    """``euler`` (Itô), ``midpoint``, ``heun`` or ``reversible_heun`` (Stratonovich)."""

    def __init__(self, fields: SDEFields, method: str, step_size: float) -> None:
        super().__init__()
        if method not in SDE_EXPORT_METHODS:
            raise ValueError(f"SDE method {method!r} cannot be exported")
        self.fields = fields
        self.method = method
        self.step_size = step_size

    def grid(self, ts: Tensor) -> Tensor:
        """The solver's step times over ``ts``: one Brownian increment per interval."""
        if ts.dim() != 1 or ts.numel() < 2:
            raise ValueError("ts must be a 1-D tensor of at least two increasing times")
        if not bool((ts[1:] > ts[:-1]).all()):
            raise ValueError("ts must be strictly increasing for an SDE")
        times = [ts[0]]
        curr = ts[0]
        for i in range(1, ts.numel()):
            while bool(curr < ts[i]):
                nxt = curr + self.step_size
                if bool(ts[-1] < nxt):
                    nxt = ts[-1]
                times.append(nxt)
                curr = nxt
        return torch.stack(times)

    def solve(self, y0: Tensor, ts: Tensor, increments: Tensor) -> Tensor:
        """Paths (T, batch, state) driven by Brownian ``increments`` (steps, batch, noise)."""
        steps = self.grid(ts).numel() - 1
        if increments.dim() != 3 or increments.size(0) != steps:
            raise ValueError(
                "increments must have shape (steps, batch, noise channels) with "
                + str(steps)
                + " steps for these times"
            )
        fields = self.fields
        prev_t = ts[0]
        curr_t = ts[0]
        prev_y = y0
        curr_y = y0
        f0 = y0
        g0 = y0
        z0 = y0
        if self.method == "reversible_heun":
            f0 = fields.f(curr_t, y0)
            g0 = fields.g(curr_t, y0)
        ys = [y0]
        k = 0
        for i in range(1, ts.numel()):
            out_t = ts[i]
            while bool(curr_t < out_t):
                next_t = curr_t + self.step_size
                if bool(ts[-1] < next_t):
                    next_t = ts[-1]
                prev_t = curr_t
                prev_y = curr_y
                dt = next_t - curr_t
                dw = increments[k]
                k += 1
                if self.method == "reversible_heun":
                    z1 = 2 * curr_y - z0 + f0 * dt + fields.prod(g0, dw)
                    f1 = fields.f(next_t, z1)
                    g1 = fields.g(next_t, z1)
                    curr_y = curr_y + (f0 + f1) * (0.5 * dt) + fields.prod(g0 + g1, 0.5 * dw)
                    f0 = f1
                    g0 = g1
                    z0 = z1
                elif self.method == "euler":
                    f = fields.f(curr_t, curr_y)
                    curr_y = curr_y + f * dt + fields.prod(fields.g(curr_t, curr_y), dw)
                elif self.method == "midpoint":
                    f = fields.f(curr_t, curr_y)
                    g_prod = fields.prod(fields.g(curr_t, curr_y), dw)
                    half_dt = 0.5 * dt
                    t_prime = curr_t + half_dt
                    y_prime = curr_y + half_dt * f + 0.5 * g_prod
                    f_prime = fields.f(t_prime, y_prime)
                    g_prod_prime = fields.prod(fields.g(t_prime, y_prime), dw)
                    curr_y = curr_y + dt * f_prime + g_prod_prime
                else:
                    f = fields.f(curr_t, curr_y)
                    g_prod = fields.prod(fields.g(curr_t, curr_y), dw)
                    y_prime = curr_y + dt * f + g_prod
                    f_prime = fields.f(next_t, y_prime)
                    g_prod_prime = fields.prod(fields.g(next_t, y_prime), dw)
                    curr_y = curr_y + (dt * (f + f_prime) + g_prod + g_prod_prime) * 0.5
                curr_t = next_t
            ys.append(
                (curr_t - out_t) / (curr_t - prev_t) * prev_y
                + (out_t - prev_t) / (curr_t - prev_t) * curr_y
            )
        return torch.stack(ys, dim=0)
