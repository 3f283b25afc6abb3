"""Multi-layer perceptron."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU, "gelu": nn.GELU}


class MLP(Configurable, nn.Module):
    """Fully connected network; the last layer is called ``head`` (what ANIL adapts).

    Args:
        in_features: Input size ``d_in``.
        hidden: Hidden layer sizes, e.g. ``(40, 40)`` for Finn et al.'s sinusoid network.
        out_features: Output size ``d_out``.
        activation: One of ``relu``, ``tanh``, ``silu``, ``gelu``.
        batchnorm: Add ``BatchNorm1d`` after each hidden linear layer. Meta-learners use
            per-task batch statistics (see :class:`sciml.meta.Learner`).

    Shapes:
        - input: ``[n, d_in]``
        - output: ``[n, d_out]``
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (40, 40),
        out_features: int = 1,
        activation: str = "relu",
        batchnorm: bool = False,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}.")
        self.remember(
            in_features=in_features,
            hidden=list(hidden),
            out_features=out_features,
            activation=activation,
            batchnorm=batchnorm,
        )
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_ACTIVATIONS[activation]())
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Predict; ``x`` is ``[n, d_in]``, the output ``[n, d_out]``."""
        return self.head(self.body(x))

    @property
    def batches_tasks(self) -> bool:
        """Whether :meth:`forward_tasks` applies (not with BatchNorm, whose statistics couple
        the examples of a batch)."""
        return not any(isinstance(m, nn.BatchNorm1d) for m in self.body)

    def forward_tasks(self, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
        """The forward pass of ``B`` tasks at once, each with its own parameters (batched
        matrix products; the meta-learning engine's task-batched path).

        Args:
            params: Every parameter by name, with a leading task dimension: e.g.
                ``"head.weight"`` ``[B, d_out, h]``.
            x: Inputs ``[B, n, d_in]``.

        Returns:
            ``[B, n, d_out]``; row ``b`` equals ``forward`` of ``x[b]`` with the parameters ``[b]``.
        """
        if not self.batches_tasks:
            raise ValueError("MLP.forward_tasks does not apply to a network with BatchNorm; run the tasks one by one.")
        h = x
        for i, layer in enumerate(self.body):
            if isinstance(layer, nn.Linear):
                h = torch.baddbmm(params[f"body.{i}.bias"].unsqueeze(1), h, params[f"body.{i}.weight"].transpose(1, 2))
            else:
                h = layer(h)
        return torch.baddbmm(params["head.bias"].unsqueeze(1), h, params["head.weight"].transpose(1, 2))
