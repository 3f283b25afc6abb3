"""The encoder-decoder network of a conditional neural process (Garnelo et al., 2018).

A conditional neural process maps a context set of observed pairs ``(x_i, y_i)`` and target
inputs ``x_*`` to a Gaussian predictive distribution at each target, in one forward pass:

.. math:: r_i = h([x_i, y_i]), \\qquad r = \\frac{1}{n} \\sum_i r_i, \\qquad
          (\\mu_*, \\sigma_*) = g([r, x_*]).

The mean over the context makes the representation ``r`` invariant to the order of the context
points and defined for any context size. The standard deviation is
``min_sd + (1 - min_sd) * softplus(.)``, bounded below so that the likelihood stays finite on
noise-free data. The network knows nothing about meta-learning:
:class:`sciml.meta.ConditionalNeuralProcess` trains it across tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciml.models.config import Configurable
from sciml.models.mlp import MLP


class ConditionalNeuralProcessNet(Configurable, nn.Module):
    """Encoder ``h``, mean aggregation and decoder ``g`` of a conditional neural process.

    Args:
        x_dim: Input size ``d_x``.
        y_dim: Target size ``d_y``; ``None`` for scalar targets of shape ``[n]`` (as physical
            laws predict them), with predictions of shape ``[m]``.
        width: Width of every hidden layer, and the size of the representation ``r``.
        encoder_layers: Hidden layers of the encoder ``h`` (Garnelo et al. use 3 on 1-D
            regression, then a linear layer to ``r``).
        decoder_layers: Hidden layers of the decoder ``g``.
        min_sd: Lower bound of the predictive standard deviation, in (standardized) target
            units; > 0.
        activation: Hidden activation (``relu``, ``tanh``, ``silu`` or ``gelu``).
        x_mean, x_scale: Standardization of the inputs, ``(x - x_mean) / x_scale``, one value
            per input column (``None``: 0 and 1). Fit them on training tasks, e.g. with
            :meth:`standardization`.
        y_mean, y_scale: Standardization of the targets; predictions are returned in the
            targets' own units.
        log_inputs: Input columns taken as ``log(x)`` before standardization (e.g. a time that
            spans decades); those columns must be > 0.

    Shapes:
        - context ``x`` ``[n, d_x]``, context ``y`` ``[n, d_y]`` (``[n]`` if ``y_dim=None``;
          ``n >= 1``)
        - target ``x`` ``[m, d_x]``
        - output: mean and standard deviation, each ``[m, d_y]`` (``[m]`` if ``y_dim=None``),
          in target units
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int | None = 1,
        *,
        width: int = 128,
        encoder_layers: int = 3,
        decoder_layers: int = 2,
        min_sd: float = 0.01,
        activation: str = "relu",
        x_mean: Sequence[float] | None = None,
        x_scale: Sequence[float] | None = None,
        y_mean: Sequence[float] | None = None,
        y_scale: Sequence[float] | None = None,
        log_inputs: Sequence[int] = (),
    ) -> None:
        super().__init__()
        scalar = y_dim is None
        y_dim = 1 if y_dim is None else y_dim
        if x_dim < 1 or y_dim < 1 or width < 1:
            raise ValueError(f"x_dim, y_dim and width must be >= 1, got {x_dim}, {y_dim} and {width}.")
        if encoder_layers < 0 or decoder_layers < 0:
            raise ValueError(f"encoder_layers and decoder_layers must be >= 0, got {encoder_layers} and {decoder_layers}.")
        if not 0.0 < min_sd < 1.0:
            raise ValueError(f"min_sd must lie in (0, 1), got {min_sd}.")
        bad = [c for c in log_inputs if not 0 <= int(c) < x_dim]
        if bad:
            raise ValueError(f"log_inputs {bad} are not input columns (0..{x_dim - 1}).")
        stats = {"x_mean": (x_mean, x_dim, 0.0), "x_scale": (x_scale, x_dim, 1.0), "y_mean": (y_mean, y_dim, 0.0),
                 "y_scale": (y_scale, y_dim, 1.0)}
        values = {}
        for name, (given, size, default) in stats.items():
            v = [default] * size if given is None else [float(u) for u in given]
            if len(v) != size:
                raise ValueError(f"{name} needs one value per column ({size}), got {len(v)}.")
            if name.endswith("scale") and not all(u > 0 for u in v):
                raise ValueError(f"{name} must be > 0 in every column, got {v}.")
            values[name] = v
        self.remember(x_dim=x_dim, y_dim=None if scalar else y_dim, width=width, encoder_layers=encoder_layers, decoder_layers=decoder_layers,
                      min_sd=min_sd, activation=activation, log_inputs=[int(c) for c in log_inputs], **values)
        self.x_dim, self.y_dim, self.min_sd, self.scalar_targets = int(x_dim), int(y_dim), float(min_sd), scalar
        self.log_inputs = tuple(int(c) for c in log_inputs)
        for name, v in values.items():
            self.register_buffer(name, torch.tensor(v))
        log_mask = torch.zeros(x_dim, dtype=torch.bool)
        log_mask[list(self.log_inputs)] = True
        self.register_buffer("log_mask", log_mask)
        self.encoder = MLP(x_dim + y_dim, [width] * encoder_layers, width, activation=activation)
        self.decoder = MLP(width + x_dim, [width] * decoder_layers, 2 * y_dim, activation=activation)

    @staticmethod
    def standardization(x: Tensor, y: Tensor, log_inputs: Sequence[int] = ()) -> dict[str, list[float]]:
        """Column means and standard deviations of pooled training inputs ``x`` ``[N, d_x]``
        and targets ``y`` ``[N, d_y]`` (after the log of ``log_inputs``), as constructor
        arguments ``x_mean, x_scale, y_mean, y_scale``. A constant column gets scale 1."""
        x = x.double().clone()
        for c in log_inputs:
            x[:, c] = x[:, c].log()
        y = y.double().reshape(len(y), -1)

        def scale(v: Tensor) -> list[float]:
            s = v.std(0) if len(v) > 1 else torch.ones(v.shape[1], dtype=v.dtype)
            return torch.where(s > 0, s, torch.ones_like(s)).tolist()

        return {"x_mean": x.mean(0).tolist(), "x_scale": scale(x), "y_mean": y.mean(0).tolist(), "y_scale": scale(y)}

    def _inputs(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"inputs must have shape [n, {self.x_dim}], got {list(x.shape)}.")
        if self.log_inputs:
            x = torch.where(self.log_mask, x.clamp_min(torch.finfo(x.dtype).tiny).log(), x)
        return (x - self.x_mean.to(x.dtype)) / self.x_scale.to(x.dtype)

    def encode(self, x: Tensor, y: Tensor) -> Tensor:
        """Task representation ``r`` ``[width]``: the mean of ``h([x_i, y_i])`` over a context
        of ``n >= 1`` points (``x`` ``[n, d_x]``, ``y`` ``[n, d_y]`` or ``[n]``)."""
        want = (x.shape[0],) if self.scalar_targets else (x.shape[0], self.y_dim)
        if tuple(y.shape) != want:
            raise ValueError(f"context targets must have shape {list(want)}, got {list(y.shape)}.")
        y = y.reshape(x.shape[0], self.y_dim)
        y = (y - self.y_mean.to(y.dtype)) / self.y_scale.to(y.dtype)
        return self.encoder(torch.cat([self._inputs(x), y], dim=1)).mean(0)

    def decode(self, representation: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Predictive mean and standard deviation ``[m, d_y]`` (``[m]`` for scalar targets;
        target units) at inputs ``x`` ``[m, d_x]`` given a representation ``[width]``."""
        z = self._inputs(x)
        out = self.decoder(torch.cat([representation.expand(z.shape[0], -1), z], dim=1))
        mean, raw = out[:, : self.y_dim], out[:, self.y_dim :]
        sd = self.min_sd + (1.0 - self.min_sd) * F.softplus(raw)
        scale = self.y_scale.to(mean.dtype)
        mean, sd = self.y_mean.to(mean.dtype) + scale * mean, scale * sd
        return (mean[:, 0], sd[:, 0]) if self.scalar_targets else (mean, sd)

    def forward(self, context_x: Tensor, context_y: Tensor, target_x: Tensor) -> tuple[Tensor, Tensor]:
        """Predictive mean and standard deviation ``[m, d_y]`` at ``target_x`` given the
        context ``(context_x, context_y)``."""
        return self.decode(self.encode(context_x, context_y), target_x)
