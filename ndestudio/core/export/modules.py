"""The modules an exported file holds: trained networks + a TorchScript solver + the
normalisation statistics, one class per family. Written for ``torch.jit.script``."""

import torch
from torch import Tensor, nn

from ndestudio.core.export.script_fields import last_observed, path_parts, path_value
from ndestudio.core.export.script_sde import SDESolver
from ndestudio.core.export.script_solvers import ODESolver


class ExportedODE(nn.Module):
    """``model(y0, t)``: ``y0`` (batch, C) or (C,) in data units, ``t`` any strictly monotone
    1-D grid → trajectory (batch, T, C) or (T, C) in data units."""

    loc: Tensor
    scale: Tensor

    def __init__(self, solver: ODESolver, loc: Tensor, scale: Tensor) -> None:
        super().__init__()
        self.solver = solver
        self.channels = int(loc.numel())
        self.register_buffer("loc", loc.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, y0: Tensor, t: Tensor) -> Tensor:
        return self.solve_with_stats(y0, t)[0]

    @torch.jit.export
    def solve_with_stats(self, y0: Tensor, t: Tensor) -> tuple[Tensor, int]:
        """The trajectory and the number of vector-field evaluations it took."""
        if y0.dim() < 1 or y0.dim() > 2 or y0.size(-1) != self.channels:
            raise ValueError(
                "y0 must have shape (batch, "
                + str(self.channels)
                + ") or ("
                + str(self.channels)
                + ")"
            )
        single = y0.dim() == 1
        y = y0.unsqueeze(0) if single else y0
        y = (y.to(self.loc.dtype) - self.loc) / self.scale
        solution, nfe = self.solver.solve(y, t.to(self.loc.dtype), [y], None)
        out = solution.transpose(0, 1) * self.scale + self.loc
        return (out[0] if single else out), nfe


class ExportedCDE(nn.Module):
    """``model(x, t)``: raw observations ``x`` (batch, T, C) with NaN for missing values at
    increasing times ``t`` (T,) → logits (classification) or predictions in the targets' units
    (regression), shape (batch, K)."""

    loc: Tensor
    scale: Tensor
    out_loc: Tensor
    out_scale: Tensor

    def __init__(
        self,
        solver: ODESolver,
        initial: nn.Module,
        readout: nn.Module,
        loc: Tensor,
        scale: Tensor,
        out_loc: Tensor,
        out_scale: Tensor,
        kind: str,
        time_channel: bool,
        mask_channels: bool,
        time_origin: float,
        time_span: float,
        count_scale: float,
    ) -> None:
        super().__init__()
        self.solver = solver
        self.initial = initial
        self.readout = readout
        self.channels = int(loc.numel())
        self.register_buffer("loc", loc.detach().clone().double())
        self.register_buffer("scale", scale.detach().clone().double())
        self.register_buffer("out_loc", out_loc.detach().clone())
        self.register_buffer("out_scale", out_scale.detach().clone())
        self.kind = kind
        self.time_channel = time_channel or kind == "rectilinear"
        self.mask_channels = mask_channels
        self.time_origin = time_origin
        self.time_span = time_span
        self.count_scale = count_scale

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        z, _ = self.hidden_with_stats(x, t)
        return self.readout(z) * self.out_scale + self.out_loc

    @torch.jit.export
    def features(self, x: Tensor, t: Tensor) -> Tensor:
        """The CDE's input channels, as in training: normalised values (a missing first value
        becomes the channel mean), the time rescaled as in training, observation counts; every
        channel NaN after a series' last observation, where its path then stays constant."""
        if x.dim() != 3 or x.size(-1) != self.channels:
            raise ValueError("x must have shape (batch, T, " + str(self.channels) + ")")
        if t.dim() != 1 or t.numel() != x.size(1) or t.numel() < 2:
            raise ValueError("t must be 1-D with one time per observation (at least two)")
        if not bool((t[1:] > t[:-1]).all()):
            raise ValueError("t must be strictly increasing")
        x64 = x.double()
        values = (x64 - self.loc) / self.scale
        values[:, 0] = torch.nan_to_num(values[:, 0], nan=0.0)
        parts: list[Tensor] = []
        if self.time_channel:
            scaled = (t.double() - self.time_origin) / self.time_span
            parts.append(scaled.view(1, -1, 1).expand(x.size(0), x.size(1), 1))
        parts.append(values)
        if self.mask_channels:
            observed = ~torch.isnan(x64)
            parts.append(observed.cumsum(dim=1).double() / self.count_scale)
        features = torch.cat(parts, dim=-1)
        length = x.size(1)
        last = last_observed(x64)
        after_end = torch.arange(length, device=x.device).view(1, -1) > last.view(-1, 1)
        features = features.masked_fill(after_end.unsqueeze(-1), float("nan"))
        if self.kind == "rectilinear":  # (its time channel may hold no NaN: the end's time)
            end_time = features[torch.arange(x.size(0), device=x.device), last, 0]
            features[:, :, 0] = torch.where(after_end, end_time.view(-1, 1), features[:, :, 0])
        return features.to(self.out_loc.dtype)

    @torch.jit.export
    def hidden_with_stats(self, x: Tensor, t: Tensor) -> tuple[Tensor, int]:
        """The final hidden state z_T and the number of vector-field evaluations."""
        dtype = self.out_loc.dtype
        ctx = path_parts(self.kind, self.features(x, t), t.to(dtype))
        knots = ctx[0]
        z0 = self.initial(path_value(self.kind, ctx, knots[0]))
        # The path's knots: an adaptive solver steps onto them, a fixed-step one evaluates each
        # step's ends on its own side of them.
        jump_t: Tensor | None = knots
        ends = torch.stack([knots[0], knots[-1]])
        zs, nfe = self.solver.solve(z0, ends, ctx, jump_t)
        return zs[-1], nfe


class ExportedSDE(nn.Module):
    """``model(ts, batch, seed)``: ``batch`` generated paths (batch, T, C) in data units at
    increasing times ``ts``, reproducible for a seed. ``sample_with_noise`` takes the initial
    noise and the Brownian increments explicitly."""

    loc: Tensor
    scale: Tensor

    def __init__(
        self,
        solver: SDESolver,
        initial: nn.Module,
        readout: nn.Module,
        loc: Tensor,
        scale: Tensor,
        noise_size: int,
    ) -> None:
        super().__init__()
        self.solver = solver
        self.initial = initial
        self.readout = readout
        self.noise_size = noise_size
        self.brownian_size = solver.fields.brownian_size
        self.register_buffer("loc", loc.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, ts: Tensor, batch: int, seed: int) -> Tensor:
        # The noise is drawn on the CPU (the same numbers on every device) and then moved.
        generator = torch.Generator()
        generator.manual_seed(seed)
        ts = ts.to(dtype=self.loc.dtype, device=self.loc.device)
        grid = self.solver.grid(ts)
        initial_noise = torch.randn(
            [batch, self.noise_size], generator=generator, dtype=self.loc.dtype
        ).to(self.loc.device)
        steps = grid.numel() - 1
        normal = torch.randn(
            [steps, batch, self.brownian_size], generator=generator, dtype=self.loc.dtype
        ).to(self.loc.device)
        increments = normal * (grid[1:] - grid[:-1]).sqrt().view(steps, 1, 1)
        return self.sample_with_noise(ts, initial_noise, increments)

    @torch.jit.export
    def solver_grid(self, ts: Tensor) -> Tensor:
        """The solver's step times over ``ts`` (steps + 1,): one increment per interval."""
        return self.solver.grid(ts.to(dtype=self.loc.dtype, device=self.loc.device))

    @torch.jit.export
    def sample_with_noise(self, ts: Tensor, initial_noise: Tensor, increments: Tensor) -> Tensor:
        """Paths driven by ``initial_noise`` (batch, noise) and Brownian ``increments``
        (steps, batch, brownian channels) over :meth:`solver_grid`."""
        if initial_noise.dim() != 2 or initial_noise.size(1) != self.noise_size:
            raise ValueError("initial_noise must have shape (batch, " + str(self.noise_size) + ")")
        ts = ts.to(dtype=self.loc.dtype, device=self.loc.device)
        x0 = self.initial(initial_noise.to(dtype=self.loc.dtype, device=self.loc.device))
        xs = self.solver.solve(x0, ts, increments.to(dtype=self.loc.dtype, device=self.loc.device))
        return self.readout(xs).transpose(0, 1) * self.scale + self.loc
