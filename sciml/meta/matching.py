r"""Matching Networks (Vinyals et al. 2016): attention over the support set.

A query :math:`\hat x` is classified by attending over the labelled support examples,

.. math:: P(y = c \mid \hat x, S) = \sum_i a(\hat x, x_i)\, [y_i = c], \qquad
          a(\hat x, x_i) = \mathrm{softmax}_i\bigl(\tau \cos(f(\hat x, S), g(x_i, S))\bigr),

with a learned temperature :math:`\tau`. With *full-context embeddings* (FCE) the embeddings
depend on the whole support set: :math:`g(x_i, S) = g'(x_i) + \overrightarrow{h}_i +
\overleftarrow{h}_i` (a bidirectional LSTM read over the support), and :math:`f(\hat x, S)` is an
LSTM that attends over :math:`g(S)` for a few processing steps,

.. math:: \hat h_k, c_k = \mathrm{LSTM}(f'(\hat x), [h_{k-1}, r_{k-1}], c_{k-1}), \quad
          h_k = \hat h_k + f'(\hat x), \quad r_k = \sum_i \mathrm{softmax}_i(h_k^\top g(x_i, S))\, g(x_i, S).

So a query's score uses the relations among the support examples, not only its distance to each
class. The LSTMs are written as plain linear gates so the per-task path runs under ``vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from sciml.meta.adapted import Adapted
from sciml.meta.learner import Learner
from sciml.tasks import Task, TensorData

_PREFIX = "matching:"


class _LSTMCell(nn.Module):
    """An LSTM cell from two linear maps (``vmap``-safe: no fused kernel)."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.input_gates = nn.Linear(inputs, 4 * hidden)
        self.hidden_gates = nn.Linear(hidden, 4 * hidden, bias=False)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i, f, g, o = (self.input_gates(x) + self.hidden_gates(h)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class FullContextEmbedding(nn.Module):
    """The two context readers of Matching Networks' FCE for embeddings of width ``dim``.

    Shapes:
        - :meth:`support`: ``[n, dim] -> [n, dim]``
        - :meth:`query`: ``[m, dim]`` with the support's ``[n, dim]`` ``-> [m, dim]``
    """

    def __init__(self, dim: int, steps: int = 3) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"fce_steps must be >= 1, got {steps}.")
        self.steps = int(steps)
        self.forward_reader = _LSTMCell(dim, dim)
        self.backward_reader = _LSTMCell(dim, dim)
        self.attention_reader = _LSTMCell(dim, 2 * dim)

    def _read(self, cell: _LSTMCell, seq: Tensor) -> Tensor:
        h = c = seq.new_zeros(seq.shape[-1])
        out = []
        for x in seq.unbind(0):
            h, c = cell(x, h, c)
            out.append(h)
        return torch.stack(out)

    def forward(self, support: Tensor, query: Tensor | None = None) -> Tensor:
        """:meth:`support` of ``support``; with ``query``, :meth:`query` against the
        (already context-embedded) ``support``."""
        return self.support(support) if query is None else self.query(query, support)

    def support(self, g: Tensor) -> Tensor:
        """``g'(x_i) + forward + backward`` LSTM states over the support sequence."""
        return g + self._read(self.forward_reader, g) + self._read(self.backward_reader, g.flip(0)).flip(0)

    def query(self, f: Tensor, g: Tensor) -> Tensor:
        """Attention-LSTM embedding of queries ``f`` over the context-embedded support ``g``."""
        d = f.shape[-1]
        h = f.new_zeros(f.shape[0], 2 * d)
        c = f.new_zeros(f.shape[0], 2 * d)
        out = f
        for _ in range(self.steps):
            h, c = self.attention_reader(f, h, c)
            out = h[:, :d] + f
            read = torch.softmax(out @ g.T, dim=-1) @ g
            h = torch.cat([out, read], dim=-1)
        return out


def matching_log_probs(query: Tensor, support: Tensor, onehot: Tensor, temperature: Tensor) -> Tensor:
    """Log class probabilities ``[m, N]`` of queries ``[m, d]`` attending over support
    embeddings ``[n, d]`` with one-hot labels ``[n, N]`` (cosine attention)."""
    attention = torch.softmax(temperature * F.normalize(query, dim=-1) @ F.normalize(support, dim=-1).T, dim=-1)
    return torch.log((attention @ onehot).clamp_min(1e-8))


class MatchingNet(Learner):
    """Matching Networks behind the :class:`~sciml.meta.Learner` contract (see the module
    docstring): attention over the support with cosine similarity, optionally with full-context
    embeddings. Adaptation has no gradient steps; ``Adapted.predict(x)`` returns log class
    probabilities ``[n, N]`` (usable as logits).

    Args:
        model: Encoder ``[n, ...] -> [n, d]`` (shared by support and query, :math:`f' = g'`).
        n_way: Classes per episode (labels are int64 ``0..n_way-1``).
        fce_dim: Embedding width ``d`` to enable full-context embeddings; ``None`` for plain
            cosine attention over the encoder's embeddings.
        fce_steps: Processing steps of the attention LSTM.
        temperature: Initial scale of the cosine similarities (meta-learned).
        outer_lr, meta_batch_size: As for :class:`~sciml.meta.Learner`.
    """

    name = "MatchingNet"

    def __init__(self, model: nn.Module, n_way: int, *, fce_dim: int | None = None, fce_steps: int = 3, temperature: float = 10.0,
                 outer_lr: float = 1e-3, meta_batch_size: int = 4, **kwargs: Any) -> None:
        if n_way < 2:
            raise ValueError(f"n_way must be >= 2, got {n_way}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        kwargs.setdefault("inner_steps", 0)
        kwargs.pop("loss", None)
        super().__init__(model, loss="cross_entropy", outer_lr=outer_lr, meta_batch_size=meta_batch_size, **kwargs)
        self.n_way, self.fce_dim, self.fce_steps, self.temperature = int(n_way), fce_dim, int(fce_steps), float(temperature)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), dtype=self._dtype))
        self.context = FullContextEmbedding(fce_dim, fce_steps).to(self._dtype) if fce_dim is not None else None

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("loss")
        return {**cfg, "n_way": self.n_way, "fce_dim": self.fce_dim, "fce_steps": self.fce_steps, "temperature": self.temperature}

    def extra_meta_parameters(self) -> dict[str, nn.Parameter]:
        if getattr(self, "log_temperature", None) is None:  # while __init__ builds it
            return {}
        extra = {_PREFIX + "log_temperature": self.log_temperature}
        if getattr(self, "context", None) is not None:
            extra.update({f"{_PREFIX}context.{k}": p for k, p in self.context.named_parameters()})
        return extra

    def _check_against_output(self, y: Tensor, out_shape: tuple[int, ...], task: str) -> None:
        if y.ndim != 1 or torch.is_floating_point(y):
            raise TypeError(f"Task {task!r}: MatchingNet needs int64 class indices of shape [n]; got {y.dtype} {tuple(y.shape)}.")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_way):
            raise ValueError(f"Task {task!r}: class indices must lie in 0..{self.n_way - 1} (n_way = {self.n_way}); got "
                             f"{int(y.min())}..{int(y.max())}.")
        if self.fce_dim is not None and out_shape != (self.fce_dim,):
            raise ValueError(f"Task {task!r}: the encoder outputs {list(out_shape)} but fce_dim = {self.fce_dim}; set fce_dim to "
                             "the embedding width.")

    def log_probs(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor) -> Tensor:
        """Log class probabilities ``[m, N]`` of the queries given one support set."""
        params, buffers = self._model_params(meta), self._buffers()
        g = functional_call(self.model, (params, buffers), (sx,))
        f = functional_call(self.model, (params, buffers), (qx,))
        if self.context is not None:
            ctx = {k: meta[f"{_PREFIX}context.{k}"] for k, _ in self.context.named_parameters()}
            g = functional_call(self.context, ctx, (g,))
            f = functional_call(self.context, ctx, (g, f))
        onehot = (sy[:, None] == torch.arange(self.n_way, device=sy.device)[None, :]).to(g.dtype)
        return matching_log_probs(f, g, onehot, meta[_PREFIX + "log_temperature"].exp())

    def task_loss(self, meta: Mapping[str, Tensor], sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        return F.nll_loss(self.log_probs(meta, sx, sy, qx), qy)

    def adapt_many(self, supports: Sequence[TensorData | Task], steps: Sequence[int]) -> list[list[Adapted]]:
        """Store each support set (attention needs no gradient steps; ``steps`` only label)."""
        meta = self._meta()
        module = _MatchingClassifier(self)
        out = []
        for i, s in enumerate(supports):
            x, y = self._support_tensors(s, f"support {i}")
            missing = sorted(set(range(self.n_way)) - set(y.tolist()))
            if missing:
                raise ValueError(f"Support {i}: class(es) {missing} have no example; attention needs every one of the "
                                 f"{self.n_way} classes in the support set.")
            extras = {"meta": {k: v.clone() for k, v in meta.items()}, "support_x": x, "support_y": y}
            out.append([_MatchingAdapted(module, {}, {}, learner=self.name, steps=int(n), extras=extras) for n in steps])
        return out


class _MatchingClassifier(nn.Module):
    def __init__(self, learner: MatchingNet) -> None:
        super().__init__()
        self.learner = learner


class _MatchingAdapted(Adapted):
    """An adapted Matching Network: the support set and the meta-parameters it attends with."""

    def predict(self, x: Tensor) -> Tensor:
        """Log class probabilities ``[n, N]``."""
        learner, e = self.model.learner, self.extras
        learner.model.eval()
        with torch.no_grad():
            return learner.log_probs(e["meta"], e["support_x"], e["support_y"], x)
