"""Encoders of phase-folded light curves."""

from __future__ import annotations

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
