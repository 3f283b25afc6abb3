"""Encoders of phase-folded light curves."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable


class PhaseCNN(Configurable, nn.Module):
    """A small 1-D CNN over a phase-folded, resampled light curve. Convolutions use circular
    padding (phase wraps around), global average pooling makes it shift-tolerant, and the last
    layer is called ``head`` (an embedding for ProtoNet, class logits for MAML).

    Args:
        channels: Convolution widths.
        out_features: Output size (embedding dimension or number of classes).
        kernel_size: Convolution kernel size (odd).

    Shapes:
        - input: ``[n, n_bins]`` (one channel) or ``[n, c, n_bins]``
        - output: ``[n, out_features]``
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), out_features: int = 32, kernel_size: int = 5, in_channels: int = 1) -> None:
        super().__init__()
        self.remember(channels=list(channels), out_features=out_features, kernel_size=kernel_size, in_channels=in_channels)
        layers: list[nn.Module] = []
        width = in_channels
        for c in channels:
            layers += [nn.Conv1d(width, c, kernel_size, padding=kernel_size // 2, padding_mode="circular"), nn.ReLU()]
            width = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Embed; ``x`` is ``[n, n_bins]`` or ``[n, c, n_bins]``."""
        if x.ndim == 2:
            x = x[:, None, :]
        return self.head(self.body(x).mean(-1))


class FeaturePhaseEncoder(Configurable, nn.Module):
    """Reads a light curve's features and its folded shape together: an MLP on the features and
    a :class:`PhaseCNN` on the shape, their outputs concatenated and mapped by a linear ``head``.
    The period, amplitude and colours say what the shape alone cannot (a 0.3 d and a 30 d
    sinusoid fold alike), and the shape says what eight numbers summarise poorly.

    Args:
        n_features: Feature columns, first in each input row.
        n_bins: Phase bins of the folded shape, the rest of each row.
        out_features: Output size (embedding dimension or number of classes).
        hidden: Hidden widths of the feature MLP (its output is ``hidden[-1]`` wide).
        channels: Convolution widths of the shape CNN.
        shape_features: Output width of the shape CNN.

    Shapes:
        - input: ``[n, n_features + n_bins]`` (features, then the folded shape)
        - output: ``[n, out_features]``
    """

    def __init__(self, n_features: int, n_bins: int, out_features: int = 32, hidden: tuple[int, ...] = (64, 64),
                 channels: tuple[int, ...] = (16, 32, 32), shape_features: int = 32) -> None:
        super().__init__()
        from sciml.models.mlp import MLP

        if n_features < 1 or n_bins < 1 or not hidden:
            raise ValueError(f"n_features and n_bins must be >= 1 and hidden non-empty, got {n_features}, {n_bins}, {hidden}.")
        self.remember(n_features=n_features, n_bins=n_bins, out_features=out_features, hidden=list(hidden), channels=list(channels),
                      shape_features=shape_features)
        self.n_features, self.n_bins = int(n_features), int(n_bins)
        self.features = MLP(n_features, tuple(hidden[:-1]), hidden[-1])
        self.shape = PhaseCNN(tuple(channels), shape_features)
        self.head = nn.Linear(hidden[-1] + shape_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Embed rows of ``[features | folded shape]``."""
        if x.shape[-1] != self.n_features + self.n_bins:
            raise ValueError(f"FeaturePhaseEncoder expects rows of {self.n_features} features + {self.n_bins} phase bins = "
                             f"{self.n_features + self.n_bins} columns, got {x.shape[-1]}.")
        f, s = x[..., :self.n_features], x[..., self.n_features:]
        return self.head(torch.cat([torch.relu(self.features(f)), torch.relu(self.shape(s))], dim=-1))
