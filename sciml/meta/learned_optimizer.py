r"""A learned inner-loop optimizer: learning to learn by gradient descent (Andrychowicz et al.,
2016), with the coordinate-wise MLP update rule of Metz et al. (2019).

Every adapted coordinate :math:`\theta_i` (each element of each adapted tensor) is updated by the
same small network, which reads that coordinate's optimization history only:

.. math::
    m^{(\beta)}_t = \frac{\beta m^{(\beta)}_{t-1} + (1 - \beta) d_t}{1 - \beta^{t+1}}, \qquad
    (s, c) = \mathrm{MLP}\bigl(\rho(d_t), \rho(m^{(\beta_1)}_t), \dots, \tanh(t / \tau_k)\bigr),

.. math::
    \theta_{t+1} = \theta_t - \eta_n\, e^{s}\, \bigl(d_t + c\, m^{(\beta_{\max})}_t\bigr),

where :math:`d_t` is the base direction (the support-loss gradient, or the damped Gauss-Newton
direction with ``inner_optimizer="gauss_newton"``), :math:`\rho` is the log-magnitude and sign
preprocessing of Andrychowicz et al. (scale-free, so one rule serves laws and networks whose
gradients differ by orders of magnitude), :math:`\eta_n` a meta-learned step size per adapted
tensor (``step_sizes="tensor"``) or per adapted element (``"element"``, the default, as in
Meta-SGD, so the rule refines Meta-SGD's steps), :math:`s \in (-3, 3)` a learned log step
multiplier and :math:`c \in (-2, 2)` a learned momentum weight. The last layer starts at zero,
so before meta-training the rule *is* plain gradient descent with step ``inner_lr``;
meta-training (jointly with the initialization, as in MAML) learns where to step further, where
to hold back, and how much history to carry. ``max_update`` caps each step smoothly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.functional import Params, flatten_params, unflatten_params
from sciml.meta.learner import Learner, _InnerProblem

_RULE = "update_rule:"
_LR = "log_lr:"
TIMESCALES = (1.0, 3.0, 10.0)
"""Step-count timescales :math:`\\tau_k` of the rule's ``tanh(t / tau)`` inputs (bounded, so
steps past the trained count keep the inputs in range; whether the rule's steps there help is
another matter: trained for one step on the sinusoid, its later steps made the fit worse)."""
LOG_SCALE_BOUND = 3.0
"""The learned log step multiplier lies in ``(-3, 3)``: at most a factor of 20 either way."""
MOMENTUM_BOUND = 2.0
"""The learned momentum weight lies in ``(-2, 2)``."""
STEP_SIZES = ("element", "tensor")
"""Base step sizes per adapted element (as in Meta-SGD) or one per adapted tensor."""


def log_sign_features(x: Tensor, p: float = 10.0) -> Tensor:
    r"""Andrychowicz et al.'s preprocessing of a gradient-like tensor: two features per element,
    ``(log|x| / p, sign x)`` where ``|x| >= e^-p`` and ``(-1, e^p x)`` below.

    Args:
        x: Any shape ``[...]``.
        p: Magnitude range (``e^-p`` is the smallest magnitude told apart from zero).

    Returns:
        ``[..., 2]``; bounded by 1 in the second feature, by ``max(1, log|x|/p)`` in the first.
    """
    small = x.abs() < math.exp(-p)
    magnitude = torch.where(small, torch.full_like(x, -1.0), torch.log(x.abs().clamp_min(math.exp(-p))) / p)
    sign = torch.where(small, x * math.exp(p), torch.sign(x))
    return torch.stack([magnitude, sign], dim=-1)


class UpdateRule(nn.Module):
    """The coordinate-wise network: per-coordinate features -> (log step multiplier, momentum
    weight), both bounded.

    Args:
        n_features: Features per coordinate.
        hidden: Width of the two hidden layers.

    Shapes:
        - input: ``[..., n_features]``
        - output: ``[..., 2]`` (log multiplier in ``(-3, 3)``, momentum weight in ``(-2, 2)``)
    """

    def __init__(self, n_features: int, hidden: int = 16) -> None:
        super().__init__()
        if n_features < 1 or hidden < 1:
            raise ValueError(f"n_features and hidden must be >= 1, got {n_features} and {hidden}.")
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, features: Tensor) -> Tensor:
        raw = self.net(features)
        bounds = torch.tensor([LOG_SCALE_BOUND, MOMENTUM_BOUND], dtype=raw.dtype, device=raw.device)
        return bounds * torch.tanh(raw / bounds)


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "__", name)


class LearnedOptimizer(Learner):
    """A meta-learned, coordinate-wise update rule for the inner loop, learned together with the
    initialization (see the module docstring for the rule).

    At equal step counts it competes with plain gradient steps (:class:`~sciml.meta.MAML`),
    learned per-element step sizes (:class:`~sciml.meta.MetaSGD`) and Gauss-Newton steps
    (``inner_optimizer="gauss_newton"``, which it can also take as its base direction). It pays
    where a few steps must go far on a badly conditioned support loss; it adds
    ``hidden^2 + (n_features + 4) hidden + 2`` rule parameters (466 at ``hidden=16`` with two
    momenta) besides its step sizes, and one small MLP pass per coordinate per step.
    With ``inner_steps=1`` the rule sees only the first direction, so it can at most reshape
    the step size as a function of the gradient's magnitude: its history pays from a few steps on.

    Args:
        model: The model whose initialization is meta-learned with the rule.
        hidden: Width of the rule's hidden layers.
        momenta: Decay rates of the gradient averages the rule reads (the largest is the
            momentum it may add to the step).
        step_sizes: ``"element"`` (a base step size per adapted element) or ``"tensor"``.
        max_update: Cap on how far one step moves a coordinate (a smooth cap,
            ``max_update * tanh(step / max_update)``), or ``None``. A law whose parameters are
            logarithms (the JMAK-Arrhenius law's ``log_Q``) overflows when the rule multiplies a
            large Gauss-Newton step of a poorly determined parameter (``log_Q`` from one
            isotherm); ``max_update = 1`` keeps each step within a factor ``e`` of the value.
        **kwargs: Other :class:`~sciml.meta.learner.Learner` arguments; ``inner_lr`` is the
            initial step size of every adapted tensor (must be > 0).
    """

    name = "LearnedOptimizer"

    def __init__(self, model: nn.Module, *, hidden: int = 16, momenta: Sequence[float] = (0.5, 0.9),
                 step_sizes: str = "element", max_update: float | None = None, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if max_update is not None and not max_update > 0:
            raise ValueError(f"max_update must be > 0 (or None: no cap), got {max_update}.")
        self.max_update = None if max_update is None else float(max_update)
        if step_sizes not in STEP_SIZES:
            raise ValueError(f"step_sizes must be one of {STEP_SIZES}, got {step_sizes!r}.")
        self.step_sizes = step_sizes
        if not self.inner_lr > 0:
            raise ValueError(f"LearnedOptimizer learns log step sizes: inner_lr must be > 0, got {self.inner_lr}.")
        momenta = tuple(float(b) for b in momenta)
        if not momenta or not all(0.0 < b < 1.0 for b in momenta):
            raise ValueError(f"momenta must be decay rates in (0, 1), at least one; got {list(momenta)}.")
        self.hidden = int(hidden)
        self.momenta = momenta
        params = dict(model.named_parameters())
        dtype = next(iter(params.values())).dtype if params else torch.get_default_dtype()
        self.rule = UpdateRule(self.n_features, self.hidden).to(dtype)
        self._lr_names = {n: _key(n) for n in self._adapt_names}
        self.log_lrs = nn.ParameterDict(
            {k: nn.Parameter(torch.full(params[n].shape if step_sizes == "element" else (), math.log(self.inner_lr), dtype=dtype))
             for n, k in self._lr_names.items()}
        )

    @property
    def n_features(self) -> int:
        """Inputs per coordinate: two for the direction, two per momentum, one per timescale."""
        return 2 * (1 + len(self.momenta)) + len(TIMESCALES)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden, "momenta": list(self.momenta), "step_sizes": self.step_sizes,
                "max_update": self.max_update}

    def extra_meta_parameters(self) -> dict[str, nn.Parameter]:
        if getattr(self, "log_lrs", None) is None:  # while __init__ builds them
            return {}
        rule = {f"{_RULE}{k}": p for k, p in self.rule.named_parameters()}
        return {**rule, **{f"{_LR}{n}": self.log_lrs[k] for n, k in self._lr_names.items()}}

    def inner_lr_for(self, meta: Mapping[str, Tensor], name: str) -> Tensor:
        """The meta-learned base step size of tensor ``name`` (before the rule's multiplier): a
        scalar, or shaped like the tensor with ``step_sizes="element"``."""
        return torch.exp(meta[_LR + name])

    def inner_step(
        self, meta: Mapping[str, Tensor], fast: Params, problem: _InnerProblem, step: int, state: dict[str, Any]
    ) -> Params:
        """One learned update: the base direction, its running averages and the step count go
        through the rule, coordinate by coordinate (all adapted tensors as one vector ``[P]``,
        so the rule runs once per step)."""
        names = list(fast)
        d = flatten_params(self.inner_direction(fast, problem), names)
        rule = {k.removeprefix(_RULE): v for k, v in meta.items() if k.startswith(_RULE)}
        averages = state.setdefault("averages", {})
        ms = []
        for b in self.momenta:
            averages[b] = b * averages.get(b, torch.zeros_like(d)) + (1 - b) * d
            ms.append(averages[b] / (1 - b ** (step + 1)))
        clock = torch.tensor([math.tanh(step / tau) for tau in TIMESCALES], dtype=d.dtype, device=d.device)
        feats = torch.cat([log_sign_features(d)] + [log_sign_features(m) for m in ms] + [clock.expand(*d.shape, len(TIMESCALES))],
                          dim=-1)
        s, c = functional_call(self.rule, rule, (feats,)).unbind(-1)
        lr = torch.cat([torch.exp(meta[_LR + n]).expand(fast[n].shape).reshape(-1) for n in names])
        update = lr * torch.exp(s) * (d + c * ms[-1])
        if self.max_update is not None:
            update = self.max_update * torch.tanh(update / self.max_update)
        return unflatten_params(flatten_params(fast, names) - update, fast, names)

    def learned_step_sizes(self) -> dict[str, Tensor]:
        """The meta-learned base step sizes (before the rule's multiplier), by parameter name."""
        return {n: torch.exp(self.log_lrs[k].detach()) for n, k in self._lr_names.items()}

    def rule_response(self, directions: Tensor, step: int = 0) -> Tensor:
        """What the learned rule does to a coordinate whose direction (and history, held
        constant at the same value) is ``directions``, at inner step ``step``.

        Args:
            directions: ``[k]`` direction values.
            step: Inner step index (0 = the first step).

        Returns:
            ``[k, 2]``: the step multiplier ``e^s`` and the momentum weight ``c``; plain gradient
            descent is ``(1, 0)`` everywhere.
        """
        v = directions.detach().to(next(self.rule.parameters()).dtype)
        clock = torch.tensor([math.tanh(step / tau) for tau in TIMESCALES], dtype=v.dtype)
        feats = torch.cat([log_sign_features(v)] * (1 + len(self.momenta)) + [clock.expand(len(v), len(TIMESCALES))], dim=-1)
        with torch.no_grad():
            s, c = self.rule(feats).unbind(-1)
        return torch.stack([torch.exp(s), c], dim=-1)
