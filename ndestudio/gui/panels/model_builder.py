"""Model builder: family, vector-field network, solver, tolerances, gradient method, device."""

from __future__ import annotations

from types import ModuleType

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from ndestudio.core.specs import (
    ACTIVATIONS,
    DTYPES,
    ENGINES,
    FAMILIES,
    GAN_CONSTRAINTS,
    INTERPOLATIONS,
    NOISE_TYPES,
    SDE_OBJECTIVES,
    SDE_TYPES,
    RunSpec,
)
from ndestudio.gui.panels.forms import Form, read_float, set_combo, show_float
from ndestudio.gui.theme import shown


def _solvers() -> ModuleType:
    """The solver layer, imported on first use: the panel is built before torch is loaded
    (see gui/core_loader.py) and filled in by ``load`` once it is."""
    from ndestudio.core import solvers

    return solvers


def device_choices() -> list[str]:
    import torch

    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


class ModelBuilderPanel(QWidget):
    """Edits ``spec.model``, ``spec.solver`` and the device/dtype of ``spec.train``."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        self.model = Form()
        m = self.model
        self.family = m.combo(
            "Family",
            list(FAMILIES),
            (
                "ode: dy/dt = f(t, y) fitted to trajectories.\n"
                "cde: dz = f(z) dX driven by the (irregular) data: classification or regression.\n"
                "sde: dx = μ dt + σ∘dW, a generative model of sample paths (SDE-GAN)."
            ),
        )
        self.width_box = m.integer(
            "Hidden width", 1, 4096, "Units in each hidden layer of the vector field."
        )
        self.depth = m.integer(
            "Hidden layers", 0, 16, "Hidden layers of the vector-field MLP (0 = linear)."
        )
        self.activation = m.combo(
            "Activation",
            list(ACTIVATIONS),
            (
                "Smooth activations (tanh, softplus, silu) give smooth vector fields that\n"
                "adaptive solvers handle well; LipSwish is Lipschitz-1, the choice for\n"
                "SDE-GAN critics."
            ),
        )
        self.final_tanh = m.check(
            "Final tanh",
            "Bound the vector field's output with tanh (recommended for CDEs and SDEs).",
        )
        self.time_input = m.check(
            "Time input",
            "Give the vector field the time t as an extra input (non-autonomous dynamics).",
        )
        self.zero_init = m.check(
            "Zero last layer",
            "Initialise the last layer at zero: training starts from the identity flow.",
        )

        self.cde_box = QGroupBox("CDE")
        self.cde = Form()
        QVBoxLayout(self.cde_box).addWidget(self.cde)
        self.cde_hidden = self.cde.integer("Hidden size", 1, 1024, "Size of the hidden state z.")
        self.interpolation = self.cde.combo(
            "Control path",
            list(INTERPOLATIONS),
            (
                "hermite: Hermite cubic with backward differences (smooth, the default).\n"
                "linear: piecewise linear through the observations.\n"
                "rectilinear: update time, then values — causal, for online use."
            ),
        )
        self.cde_task = self.cde.combo(
            "Task", ["classification", "regression"], "What the readout of z_T predicts."
        )
        self.mask_channels = self.cde.check(
            "Observation counts",
            "Add cumulative observation-count channels (helps with missing data).",
        )

        self.sde_box = QGroupBox("SDE")
        self.sde = Form()
        QVBoxLayout(self.sde_box).addWidget(self.sde)
        self.objective = self.sde.combo(
            "Objective",
            list(SDE_OBJECTIVES),
            (
                "sde_gan: a generator SDE trained against a neural CDE critic (Wasserstein GAN);\n"
                "latent_sde: a variational autoencoder whose latent path is an SDE, trained on\n"
                "the ELBO (likelihood of the series minus the KL from the prior SDE)."
            ),
        )
        self.sde_hidden = self.sde.integer(
            "Hidden size", 1, 1024, "Size of the latent SDE state x."
        )
        self.noise_type = self.sde.combo(
            "Noise",
            list(NOISE_TYPES),
            (
                "diagonal: one Brownian motion per state; general: a full diffusion matrix;\n"
                "additive: diffusion independent of the state; scalar: one shared Brownian motion."
            ),
        )
        self.sde_type = self.sde.combo(
            "Calculus", list(SDE_TYPES), "Itô or Stratonovich; reversible Heun needs Stratonovich."
        )
        self.brownian = self.sde.integer(
            "Brownian size", 1, 256, "Brownian dimensions for general or additive noise."
        )
        self.constraint = self.sde.combo(
            "Critic constraint",
            list(GAN_CONSTRAINTS),
            (
                "How the Wasserstein critic is kept Lipschitz:\n"
                "weight clipping or a gradient penalty."
            ),
        )
        self.critic_steps = self.sde.integer(
            "Critic steps", 0, 20, "Critic-only updates before each joint update."
        )
        self.context = self.sde.integer(
            "Context size",
            1,
            1024,
            "Latent SDE: size of the GRU encoder's summary of the series that steers the "
            "posterior drift.",
        )
        self.likelihood_std = self.sde.number(
            "Likelihood std",
            1e-3,
            10.0,
            3,
            "Latent SDE: standard deviation of the Gaussian observation model, in normalised "
            "units. Smaller fits the series more closely but makes the KL term larger.",
        )
        self.kl_weight = self.sde.number(
            "KL weight", 0.0, 100.0, 3, "Latent SDE: weight of the KL terms in the loss (β)."
        )
        self.kl_anneal = self.sde.integer(
            "KL warm-up",
            0,
            10**6,
            "Latent SDE: steps over which the KL weight rises from 0, so the encoder learns "
            "to reconstruct first.",
        )

        self.solver = Form()
        s = self.solver
        self.method = s.combo(
            "Solver", [], "The numerical method; its description is shown on hover."
        )
        self.rtol = s.scientific(
            "rtol", "Relative tolerance of adaptive solvers (1e-3 is a sensible training default)."
        )
        self.atol = s.scientific("atol", "Absolute tolerance of adaptive solvers.")
        self.step_size = s.scientific(
            "Step size", "Step of fixed-step solvers (and of every SDE solver)."
        )
        self.min_step = s.scientific(
            "min_step",
            "Smallest step an adaptive solver may take (guards against 'underflow in dt').",
        )
        self.max_steps = s.integer(
            "max steps", 1, 10**8, "Stop a solve that needs more steps than this (stiff dynamics)."
        )
        self.gradient = s.combo("Gradients", [], "How gradients are computed through the solve.")
        self.engine = s.combo(
            "Engine",
            list(ENGINES),
            "What solves ODEs and CDEs. fast: NDE Studio's own engine, about 2–3× quicker at "
            "small batches (an MLP field, backprop through the solver; neural ODEs with "
            "euler, midpoint, heun2, heun3, rk4, bosh3, dopri5, with or without a time input; "
            "neural CDEs with euler, midpoint, rk4). "
            "torchdiffeq: every method and gradient. auto: fast wherever it applies. The "
            "status bar says which one runs.",
        )
        self.device = s.combo(  # filled by load: listing CUDA devices needs torch
            "Device", [], "auto uses the first CUDA device when there is one."
        )
        self.dtype = s.combo("dtype", list(DTYPES), "float64 for tolerances of 1e-8 or below.")

        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {shown('#b00020')};")

        for title, widget in (("Vector field", self.model), ("Solver", self.solver)):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(widget)
            layout.addWidget(box)
            if widget is self.model:
                layout.addWidget(self.cde_box)
                layout.addWidget(self.sde_box)
        layout.addWidget(self.problems)
        layout.addStretch(1)
        for form in (self.model, self.cde, self.sde, self.solver):
            form.changed.connect(self._on_edit)
        self.on_change = lambda: None

    # spec ↔ widgets ------------------------------------------------------------------------

    def load(self, spec: RunSpec, core: bool = True) -> None:
        """Show ``spec``. Without the ``core`` (torch not loaded yet) the solver, gradient and
        device lists hold just the spec's own choices; a later ``load`` fills them in."""
        forms = (self.model, self.cde, self.sde, self.solver)
        for form in forms:
            form.loading = True
        try:
            m, net, so = spec.model, spec.model.network, spec.solver
            set_combo(self.family, list(FAMILIES), m.family)
            self.width_box.setValue(net.width)
            self.depth.setValue(net.depth)
            set_combo(self.activation, list(ACTIVATIONS), net.activation)
            self.final_tanh.setChecked(net.final_tanh)
            self.time_input.setChecked(net.time_input)
            self.zero_init.setChecked(net.zero_init_last)
            self.cde_hidden.setValue(m.cde.hidden_size)
            set_combo(self.interpolation, list(INTERPOLATIONS), m.cde.interpolation)
            set_combo(self.cde_task, ["classification", "regression"], m.cde.task)
            self.mask_channels.setChecked(m.cde.mask_channels)
            self.sde_hidden.setValue(m.sde.hidden_size)
            set_combo(self.noise_type, list(NOISE_TYPES), m.sde.noise_type)
            set_combo(self.sde_type, list(SDE_TYPES), m.sde.sde_type)
            self.brownian.setValue(m.sde.brownian_size)
            set_combo(self.constraint, list(GAN_CONSTRAINTS), m.sde.gan_constraint)
            self.critic_steps.setValue(m.sde.critic_steps)
            set_combo(self.objective, list(SDE_OBJECTIVES), m.sde.objective)
            self.context.setValue(m.sde.context_size)
            self.likelihood_std.setValue(m.sde.likelihood_std)
            self.kl_weight.setValue(m.sde.kl_weight)
            self.kl_anneal.setValue(m.sde.kl_anneal_iterations)
            show_float(self.rtol, so.rtol)
            show_float(self.atol, so.atol)
            show_float(self.step_size, so.step_size)
            show_float(self.min_step, so.min_step)
            self.max_steps.setValue(so.max_num_steps or 10**8)
            devices = device_choices() if core else [spec.train.device]
            set_combo(self.device, devices, spec.train.device)
            set_combo(self.dtype, list(DTYPES), spec.train.dtype)
            set_combo(self.engine, list(ENGINES), so.engine)
            if core:
                self._refresh_solver_choices(so.method, so.gradient)
            else:
                set_combo(self.method, [so.method], so.method)
                set_combo(self.gradient, [so.gradient], so.gradient)
        finally:
            for form in forms:
                form.loading = False
        self._update_enabled(core)

    def apply(self, spec: RunSpec) -> None:
        m, net, so = spec.model, spec.model.network, spec.solver
        m.family = self.family.currentText()
        net.width = self.width_box.value()
        net.depth = self.depth.value()
        net.activation = self.activation.currentText()
        net.final_tanh = self.final_tanh.isChecked()
        net.time_input = self.time_input.isChecked()
        net.zero_init_last = self.zero_init.isChecked()
        m.cde.hidden_size = self.cde_hidden.value()
        m.cde.interpolation = self.interpolation.currentText()
        m.cde.task = self.cde_task.currentText()
        m.cde.mask_channels = self.mask_channels.isChecked()
        m.sde.hidden_size = self.sde_hidden.value()
        m.sde.noise_type = self.noise_type.currentText()
        m.sde.sde_type = self.sde_type.currentText()
        m.sde.brownian_size = self.brownian.value()
        m.sde.gan_constraint = self.constraint.currentText()
        m.sde.critic_steps = self.critic_steps.value()
        m.sde.objective = self.objective.currentText()
        m.sde.context_size = self.context.value()
        m.sde.likelihood_std = self.likelihood_std.value()
        m.sde.kl_weight = self.kl_weight.value()
        m.sde.kl_anneal_iterations = self.kl_anneal.value()
        so.method = self.method.currentText()
        so.gradient = self.gradient.currentText()
        so.rtol = read_float(self.rtol) or so.rtol
        so.atol = read_float(self.atol) or so.atol
        so.step_size = read_float(self.step_size)
        so.min_step = read_float(self.min_step)
        so.max_num_steps = self.max_steps.value()
        so.engine = self.engine.currentText()
        spec.train.device = self.device.currentText()
        spec.train.dtype = self.dtype.currentText()

    def show_problems(self, problems: list[str]) -> None:
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self.problems.setVisible(bool(problems))

    # behaviour -----------------------------------------------------------------------------

    def _on_edit(self) -> None:
        self._refresh_solver_choices(self.method.currentText(), self.gradient.currentText())
        self._update_enabled()
        self.on_change()

    def _refresh_solver_choices(self, method: str, gradient: str) -> None:
        family = self.family.currentText()
        solvers = _solvers()
        catalog = solvers.methods_for(family)
        names = list(catalog)
        if family == "sde":  # only methods that suit the chosen calculus and noise
            sde_type, noise = self.sde_type.currentText(), self.noise_type.currentText()
            names = [
                n for n, i in catalog.items() if sde_type in i.sde_types and noise in i.noise_types
            ]
        set_combo(self.method, names, method)
        for i, name in enumerate(names):
            self.method.setItemData(i, catalog[name].description, 3)  # Qt.ToolTipRole
        info = catalog.get(self.method.currentText())
        grads = list(info.gradients) if info else []
        set_combo(self.gradient, grads, gradient)
        for i, g in enumerate(grads):
            self.gradient.setItemData(i, solvers.GRADIENT_LABELS[g], 3)

    def _update_enabled(self, core: bool = True) -> None:
        family = self.family.currentText()
        self.cde_box.setVisible(family == "cde")
        self.sde_box.setVisible(family == "sde")
        self.engine.setEnabled(family != "sde")  # (SDEs are torchsde's)
        if core:  # which solver fields apply is the catalog's to say (the panel is off till then)
            info = _solvers().methods_for(family).get(self.method.currentText())
            adaptive = bool(info and info.adaptive)
            for w in (self.rtol, self.atol, self.min_step):
                w.setEnabled(adaptive)
            self.step_size.setEnabled(not adaptive)
        self.brownian.setEnabled(self.noise_type.currentText() in ("general", "additive"))
        latent = self.objective.currentText() == "latent_sde"
        for w in (self.constraint, self.critic_steps):
            w.setEnabled(not latent)
        for w in (self.context, self.likelihood_std, self.kl_weight, self.kl_anneal):
            w.setEnabled(latent)
