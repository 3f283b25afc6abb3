r"""Conditional neural processes (Garnelo et al., 2018): amortized calibration, no inner loop.

A conditional neural process (:class:`~sciml.models.neural_process.ConditionalNeuralProcessNet`)
encodes a task's support set into a representation and decodes a Gaussian prediction at any
input in one forward pass. Meta-training maximizes the predictive log-likelihood of each task's
targets given its support,

.. math:: \mathcal{L} = -\frac{1}{m\,d_y} \sum_{j} \log \mathcal{N}\!\left(y_j \mid \mu(x_j), \sigma(x_j)^2\right),

over the query points, and (``context_in_targets=True``, as in the paper) over the support
points too, so the network also learns to reproduce what it was shown. Calibrating to a new task
is one encoder pass over its support: no gradient steps, so its cost does not grow with a step
count, but the network cannot keep improving on a support set the way gradient steps can.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.adapted import Adapted, no_input_checks
from sciml.meta.learner import Learner
from sciml.models.neural_process import ConditionalNeuralProcessNet
from sciml.tasks import GraphData, Task, TensorData


def gaussian_nll(mean: Tensor, sd: Tensor, y: Tensor) -> Tensor:
    """Mean negative log-density of ``y`` under independent Gaussians (all ``[m, d]``; nats)."""
    return (0.5 * math.log(2 * math.pi) + torch.log(sd) + 0.5 * ((y - mean) / sd) ** 2).mean()


class ConditionalNeuralProcess(Learner):
    """A conditional neural process behind the learner contract (see the module docstring).

    ``adapt`` encodes the support set; ``Adapted.predict(x)`` returns the predictive mean
    ``[n, d_y]`` (``[n]`` for a network with ``y_dim=None``) and :meth:`predictive` the mean and
    variance.

    Args:
        model: The encoder-decoder network.
        context_in_targets: Score the support points as well as the query points in the
            meta-training loss (Garnelo et al.'s choice).
        outer_lr: Adam step size.
        meta_batch_size: Tasks per meta-iteration.
        **kwargs: Other :class:`~sciml.meta.Learner` arguments (``grad_clip``, ``compile``).
    """

    name = "CNP"

    def __init__(self, model: ConditionalNeuralProcessNet, *, context_in_targets: bool = True, outer_lr: float = 1e-3,
                 meta_batch_size: int = 16, **kwargs: Any) -> None:
        if not isinstance(model, ConditionalNeuralProcessNet):
            raise TypeError(f"ConditionalNeuralProcess needs a sciml.models.ConditionalNeuralProcessNet, got "
                            f"{type(model).__name__}; build one with ConditionalNeuralProcessNet(x_dim, y_dim).")
        kwargs.setdefault("inner_steps", 0)
        kwargs.pop("loss", None)
        super().__init__(model, loss="mse", outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.context_in_targets = bool(context_in_targets)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("loss")
        return {**cfg, "context_in_targets": self.context_in_targets}

    def check_target_shape(self, data: TensorData | GraphData, task: str = "support") -> None:
        """Raise unless inputs are ``[n, x_dim]`` and targets real-valued ``[n, y_dim]``."""
        net: ConditionalNeuralProcessNet = self.model  # type: ignore[assignment]
        if not isinstance(data, TensorData):
            raise TypeError(f"Task {task!r}: a conditional neural process reads tensors, not {type(data).__name__}.")
        x, y = data.x, data.y
        if x.ndim != 2 or x.shape[1] != net.x_dim:
            raise ValueError(f"Task {task!r}: inputs have shape {list(x.shape)}; the network reads [n, {net.x_dim}]. "
                             + ("Use x.reshape(-1, 1)." if x.ndim == 1 and net.x_dim == 1 else "Give x_dim the input width."))
        if net.scalar_targets:
            if not torch.is_floating_point(y) or y.ndim != 1:
                raise ValueError(f"Task {task!r}: targets are {y.dtype} {list(y.shape)}; the network (y_dim=None) predicts "
                                 "scalar targets [n]. Use y.reshape(-1), or y_dim=1 for [n, 1] targets.")
        elif not torch.is_floating_point(y) or y.ndim != 2 or y.shape[1] != net.y_dim:
            fix = "y.reshape(-1, 1), or y_dim=None for [n] targets" if y.ndim == 1 and net.y_dim == 1 else \
                f"real targets of shape [n, {net.y_dim}]"
            raise ValueError(f"Task {task!r}: targets are {y.dtype} {list(y.shape)}; the network predicts [n, {net.y_dim}]. "
                             f"Use {fix}.")
        if net.log_inputs and len(x) and bool((x[:, list(net.log_inputs)] <= 0).any()):
            raise ValueError(f"Task {task!r}: input columns {list(net.log_inputs)} are taken as logarithms and must be > 0.")
        finite = torch.isfinite(x).all() and torch.isfinite(y).all()
        if not finite:
            raise ValueError(f"Task {task!r}: inputs or targets hold NaN or infinity; drop or repair those rows.")

    def _predict(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, tx: Tensor) -> tuple[Tensor, Tensor]:
        return functional_call(self.model, (self._model_params(meta), self._buffers()), (sx, sy, tx))

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        """Gaussian negative log-likelihood of the targets given the support (see the module docstring)."""
        tx, ty = (torch.cat([sx, qx]), torch.cat([sy, qy])) if self.context_in_targets else (qx, qy)
        mean, sd = self._predict(meta, sx, sy, tx)
        return gaussian_nll(mean, sd, ty)

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        """Encode each support set (one pass, no gradient steps; ``steps`` only label the results)."""
        meta = self._meta()
        params, buffers = self._model_params(meta), self._buffers()
        module = _NeuralProcessPredictor(self.model)
        decoder = {f"net.{k}": v for k, v in params.items() if k.startswith("decoder.")}
        net_buffers = {f"net.{k}": v for k, v in buffers.items()}
        out = []
        self.model.eval()
        for i, s in enumerate(supports):
            x, y = self._support_tensors(s, f"support {i}")
            with torch.no_grad(), no_input_checks():
                r = self.model.encode(x, y)  # the module's own parameters are the meta-parameters
            out.append([Adapted(module, {**decoder, "representation": r}, net_buffers, learner=self.name, steps=int(n))
                        for n in steps])
        return out

    def predictive(self, adapted: Adapted, x: Tensor) -> tuple[Tensor, Tensor]:
        """Predictive mean and variance ``[n, d_y]`` (``[n]`` for scalar targets; target units,
        squared for the variance) of an adapted process at inputs ``x`` ``[n, d_x]``."""
        with torch.no_grad(), no_input_checks():
            mean, sd = functional_call(adapted.model, ({**adapted.params}, {**adapted.buffers}), (x.to(self._dtype),),
                                       kwargs={"moments": True})
        return mean, sd**2


class _NeuralProcessPredictor(nn.Module):
    """Decoder + one task's representation, so ``Adapted.predict`` returns the predictive mean."""

    def __init__(self, net: ConditionalNeuralProcessNet) -> None:
        super().__init__()
        self.net = net
        self.representation = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x: Tensor, moments: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        mean, sd = self.net.decode(self.representation, x)
        return (mean, sd) if moments else mean
