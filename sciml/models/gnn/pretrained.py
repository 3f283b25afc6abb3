r"""Hu et al.'s pre-trained molecular encoders (GCN, GraphSAGE, GAT, GIN) in their exact form.

"Strategies for Pre-training Graph Neural Networks" (Hu, Liu, Gomes, Zitnik, Liang, Pande,
Leskovec; ICLR 2020) released 5-layer, 300-wide encoders pre-trained on 2M ZINC15 molecules
(context prediction) and 456k ChEMBL molecules with 1,310 assays (supervised), MIT-licensed
(https://github.com/snap-stanford/pretrain-gnns, ``chem/model_architecture/``). The published
few-shot molecular methods (Pre-GNN, Meta-MGNN, PAR) start from them.

:class:`HuGNN` reproduces their forward pass and state-dict keys, so a released file loads
strictly with :func:`pretrained`. Its inputs come from the ``"hu"`` featurizer of
:func:`sciml.chem.smiles_to_graph`: atom ``[atomic_num - 1, chirality]`` (CHI_OTHER mapped to
0: the embedding has 3 rows), bond ``[type, direction]`` with SINGLE 0, DOUBLE 1, TRIPLE 2,
AROMATIC 3. Every layer adds a self-loop to each atom with bond features ``[4, 0]``.

Layer ``l`` updates node states ``h`` with edge embeddings
:math:`e_{ij} = E^{(l)}_1[\mathrm{type}_{ij}] + E^{(l)}_2[\mathrm{dir}_{ij}]` over the edges
with self-loops (:math:`j \to i`):

- GIN: :math:`h_i' = \mathrm{MLP}(\sum_j (h_j + e_{ij}))`;
- GCN: :math:`h_i' = \sum_j d_j^{-1/2} d_i^{-1/2} (W h_j + b + e_{ij})`, degrees counting the
  self-loop;
- GraphSAGE: :math:`h_i' = \mathrm{normalize}_2(\mathrm{mean}_j (W h_j + b + e_{ij}))`;
- GAT (2 heads): :math:`x = W h` split into heads, :math:`m_{ij} = x_j + e_{ij}`,
  :math:`\alpha_{ij} = \mathrm{softmax}(\mathrm{LeakyReLU}_{0.2}(a \cdot [x_i, m_{ij}]))` with
  the softmax taken over the edges that share the *source* :math:`j` (as in the released code),
  :math:`h_i' = \mathrm{mean}_{heads} \sum_j \alpha_{ij} m_{ij} + b`.

Then BatchNorm, ReLU (except after the last layer) and dropout; the node states of the last
layer (JK "last") are mean-pooled per molecule.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from sciml.models.config import Configurable, load_weights_only
from sciml.models.norm import check_norm, norm_layer

ARCHITECTURES = ("gin", "gcn", "graphsage", "gat")
ATOM_TYPES, CHIRALITY_TAGS = 120, 3  # atomic number - 1 (index 119: the masking token); CHI_UNSPECIFIED/CW/CCW
BOND_TYPES, BOND_DIRECTIONS = 6, 3  # SINGLE, DOUBLE, TRIPLE, AROMATIC, self-loop (4), masked (5); NONE/ENDUPRIGHT/ENDDOWNRIGHT
SELF_LOOP_BOND = (4, 0)


def _with_self_loops(edge_index: Tensor, edge_attr: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Sources, targets and bond features with one self-loop ``[4, 0]`` per atom appended."""
    loops = torch.arange(n, device=edge_index.device)
    src = torch.cat([edge_index[0], loops])
    dst = torch.cat([edge_index[1], loops])
    loop_attr = torch.tensor(SELF_LOOP_BOND, dtype=edge_attr.dtype, device=edge_attr.device).expand(n, 2)
    return src, dst, torch.cat([edge_attr.reshape(-1, 2), loop_attr])


class _EdgeEmbedding(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.edge_embedding1 = nn.Embedding(BOND_TYPES, width)
        self.edge_embedding2 = nn.Embedding(BOND_DIRECTIONS, width)
        nn.init.xavier_uniform_(self.edge_embedding1.weight)
        nn.init.xavier_uniform_(self.edge_embedding2.weight)

    def edges(self, attr: Tensor) -> Tensor:
        return self.edge_embedding1(attr[:, 0]) + self.edge_embedding2(attr[:, 1])


def _sum_into(n: int, index: Tensor, values: Tensor) -> Tensor:
    return values.new_zeros((n, *values.shape[1:])).index_add(0, index, values)


def _rows(values: Tensor, index: Tensor) -> Tensor:
    """``values[index]`` with a deterministic backward: advanced indexing's gradient accumulates
    in a thread-dependent order on the CPU (the same seed gave different numbers from run to
    run with 2 threads), ``index_select``'s is an ordered ``index_add``."""
    return torch.index_select(values, 0, index)


class HuGINConv(_EdgeEmbedding):
    """GIN layer with edge features (keys ``mlp.{0,2}``, ``edge_embedding{1,2}``)."""

    def __init__(self, width: int) -> None:
        super().__init__(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        src, dst, attr = _with_self_loops(edge_index, edge_attr, h.shape[0])
        return self.mlp(_sum_into(h.shape[0], dst, _rows(h, src) + self.edges(attr)))


class _LinearEdgeConv(_EdgeEmbedding):
    """Shared part of the GCN and GraphSAGE layers: ``linear`` and the messages
    ``W h_j + b + e_ij`` over the edges with self-loops."""

    def __init__(self, width: int) -> None:
        super().__init__(width)
        self.linear = nn.Linear(width, width)

    def messages(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sources, targets and messages ``[edges + atoms, width]``."""
        src, dst, attr = _with_self_loops(edge_index, edge_attr, h.shape[0])
        return src, dst, _rows(self.linear(h), src) + self.edges(attr)


class HuGCNConv(_LinearEdgeConv):
    """GCN layer with edge features and symmetric degree normalization (keys ``linear``,
    ``edge_embedding{1,2}``)."""

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        n = h.shape[0]
        src, dst, message = self.messages(h, edge_index, edge_attr)
        inv_sqrt = _sum_into(n, src, torch.ones_like(src, dtype=h.dtype)).pow(-0.5)  # degrees with the self-loop
        return _sum_into(n, dst, (_rows(inv_sqrt, src) * _rows(inv_sqrt, dst)).unsqueeze(-1) * message)


class HuGraphSAGEConv(_LinearEdgeConv):
    """GraphSAGE layer with edge features: mean aggregation, then L2 normalization (keys
    ``linear``, ``edge_embedding{1,2}``)."""

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        n = h.shape[0]
        _, dst, message = self.messages(h, edge_index, edge_attr)
        count = _sum_into(n, dst, torch.ones_like(dst, dtype=h.dtype)).unsqueeze(-1)
        return nn.functional.normalize(_sum_into(n, dst, message) / count, p=2.0, dim=-1)


class HuGATConv(nn.Module):
    """Graph attention layer with edge features, 2 heads averaged (keys ``weight_linear``,
    ``att``, ``bias``, ``edge_embedding{1,2}``)."""

    def __init__(self, width: int, heads: int = 2, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.width, self.heads, self.negative_slope = width, heads, negative_slope
        self.weight_linear = nn.Linear(width, heads * width)
        self.att = nn.Parameter(torch.empty(1, heads, 2 * width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.edge_embedding1 = nn.Embedding(BOND_TYPES, heads * width)
        self.edge_embedding2 = nn.Embedding(BOND_DIRECTIONS, heads * width)
        for p in (self.att, self.edge_embedding1.weight, self.edge_embedding2.weight):
            nn.init.xavier_uniform_(p)

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        from torch_geometric.utils import softmax

        n = h.shape[0]
        src, dst, attr = _with_self_loops(edge_index, edge_attr, n)
        x = self.weight_linear(h).view(n, self.heads, self.width)
        message = _rows(x, src) + (self.edge_embedding1(attr[:, 0]) + self.edge_embedding2(attr[:, 1])).view(-1, self.heads, self.width)
        score = (torch.cat([_rows(x, dst), message], dim=-1) * self.att).sum(-1)
        alpha = softmax(nn.functional.leaky_relu(score, self.negative_slope), src, num_nodes=n)
        return _sum_into(n, dst, message * alpha.unsqueeze(-1)).mean(dim=1) + self.bias


_LAYERS = {"gin": HuGINConv, "gcn": HuGCNConv, "graphsage": HuGraphSAGEConv, "gat": HuGATConv}


class HuGNN(Configurable, nn.Module):
    """Hu et al.'s molecular encoder with a prediction head.

    The encoder's parameters and buffers carry the released files' names (``x_embedding1``,
    ``x_embedding2``, ``gnns.<i>.*``, ``batch_norms.<i>.*``); the head is ``head``.

    Args:
        arch: ``"gin"``, ``"gcn"``, ``"graphsage"`` or ``"gat"``.
        out_features: Head outputs (1 for binary logits).
        layers: Message-passing layers (5 in the released encoders).
        hidden: Width (300 in the released encoders).
        dropout: Dropout after each layer (the paper fine-tunes with 0.5).
        norm: ``"batch"`` (statistics of the batch in training, running statistics in eval
            mode, as released), ``"frozen_batch"`` (the running statistics always, so each
            molecule is embedded on its own), ``"layer"`` or ``"none"``.
        pooling: ``"mean"`` (the paper's readout) or ``"sum"``.

    Shapes:
        - input: a PyG batch of ``"hu"``-featurized molecules: ``x`` int64 ``[atoms, 2]``,
          ``edge_index`` ``[2, 2 * bonds]``, ``edge_attr`` int64 ``[2 * bonds, 2]``, ``batch``
        - :meth:`embed`: ``[molecules, hidden]``; output: ``[molecules, out_features]``
    """

    def __init__(self, arch: str, out_features: int = 1, layers: int = 5, hidden: int = 300, dropout: float = 0.0,
                 norm: str = "batch", pooling: str = "mean") -> None:
        super().__init__()
        if arch not in _LAYERS:
            raise ValueError(f"arch must be one of {list(ARCHITECTURES)}, got {arch!r}.")
        if pooling not in ("mean", "sum"):
            raise ValueError(f"pooling must be 'mean' or 'sum', got {pooling!r}.")
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}.")
        check_norm(norm)
        self.remember(arch=arch, out_features=out_features, layers=layers, hidden=hidden, dropout=dropout, norm=norm,
                      pooling=pooling)
        self.arch, self.pooling = arch, pooling
        self.x_embedding1 = nn.Embedding(ATOM_TYPES, hidden)
        self.x_embedding2 = nn.Embedding(CHIRALITY_TAGS, hidden)
        nn.init.xavier_uniform_(self.x_embedding1.weight)
        nn.init.xavier_uniform_(self.x_embedding2.weight)
        self.gnns = nn.ModuleList(_LAYERS[arch](hidden) for _ in range(layers))
        self.batch_norms = nn.ModuleList(norm_layer(norm, hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, out_features)

    def encoder_keys(self) -> list[str]:
        """State-dict keys of the encoder (everything but the head)."""
        return [k for k in self.state_dict() if not k.startswith("head.")]

    def node_states(self, batch) -> Tensor:
        """Node states of the last layer ``[atoms, hidden]``."""
        x = batch.x
        if x.dtype != torch.long or x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"HuGNN needs int64 atom features [atoms, 2] from the 'hu' featurizer; got {x.dtype} "
                             f"{list(x.shape)}. Use sciml.chem.smiles_to_graph(smiles, 'hu').")
        h = self.x_embedding1(x[:, 0]) + self.x_embedding2(x[:, 1])
        last = len(self.gnns) - 1
        for i, (conv, norm) in enumerate(zip(self.gnns, self.batch_norms)):
            h = norm(conv(h, batch.edge_index, batch.edge_attr))
            h = self.dropout(h if i == last else torch.relu(h))
        return h

    def embed(self, batch) -> Tensor:
        """Pooled molecule embeddings ``[molecules, hidden]``."""
        from torch_geometric.nn import global_add_pool, global_mean_pool

        pool = global_mean_pool if self.pooling == "mean" else global_add_pool
        return pool(self.node_states(batch), batch.batch)

    def forward(self, batch) -> Tensor:
        """Head outputs ``[molecules, out_features]``."""
        return self.head(self.embed(batch))

    def load_encoder(self, state: dict[str, Tensor], source: str = "state dict") -> HuGNN:
        """Load an encoder state dict strictly: exactly the encoder's keys, the same shapes
        (``num_batches_tracked`` is optional with ``norm="frozen_batch"``). Returns ``self``.

        Raises:
            ValueError: naming missing, unexpected or mis-shaped tensors, and the architecture
                the file looks like where that explains it.
        """
        own = {k: v for k, v in self.state_dict().items() if not k.startswith("head.")}
        given = dict(state)
        if "num_batches_tracked" not in " ".join(own):
            given = {k: v for k, v in given.items() if not k.endswith("num_batches_tracked")}
        missing, unexpected = sorted(set(own) - set(given)), sorted(set(given) - set(own))
        shapes = [f"{k} {list(given[k].shape)} (expected {list(own[k].shape)})" for k in sorted(set(own) & set(given))
                  if given[k].shape != own[k].shape]
        if missing or unexpected or shapes:
            hint = _guess_arch(given)
            raise ValueError(
                f"{source} does not fit a {self.arch.upper()} encoder of {len(self.gnns)} x {own['x_embedding1.weight'].shape[1]}: "
                f"missing {missing[:4]}, unexpected {unexpected[:4]}, shapes {shapes[:3]}"
                + (f"; it looks like a {hint} encoder" if hint and hint != self.arch else "") + "."
            )
        self.load_state_dict({**given, **{k: v for k, v in self.state_dict().items() if k.startswith("head.")}})
        return self


def _guess_arch(state: dict[str, Tensor]) -> str | None:
    keys = " ".join(state)
    if ".att" in keys:
        return "gat"
    if ".mlp." in keys:
        return "gin"
    if ".linear." in keys:
        return "gcn or graphsage"
    return None


def encoder_state(path: str | Path) -> tuple[dict[str, Tensor], int, int]:
    """``(state dict, layers, hidden width)`` of one of Hu et al.'s released encoder files.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not one of their encoder state dicts.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the released encoders are at "
                                "https://github.com/snap-stanford/pretrain-gnns/tree/master/chem/model_architecture.")
    state = load_weights_only(path, "torch state dict")
    if not isinstance(state, dict) or "x_embedding1.weight" not in state:
        raise ValueError(f"{path}: not one of Hu et al.'s encoder state dicts (no x_embedding1.weight).")
    return state, len({k.split(".")[1] for k in state if k.startswith("gnns.")}), int(state["x_embedding1.weight"].shape[1])


def pretrained(arch: str, path: str | Path, *, out_features: int = 1, dropout: float = 0.0, norm: str = "batch",
               pooling: str = "mean", weights: str = "released") -> HuGNN:
    """A :class:`HuGNN` with the released encoder weights of ``path`` loaded strictly and a
    fresh head.

    Args:
        arch: ``"gin"``, ``"gcn"``, ``"graphsage"`` or ``"gat"`` (GCN and GraphSAGE files have
            the same keys: name the right one).
        path: A ``.pth`` state dict of Hu et al.'s ``chem/model_architecture/`` (e.g.
            ``$SCIML_DATA_DIR/molecules/pretrain_gnns/gcn_supervised_contextpred.pth``).
        out_features, dropout, norm, pooling: As for :class:`HuGNN`; depth and width come from
            the file.
        weights: ``"released"`` (the file's weights) or ``"random"`` (the file's architecture
            at the current torch seed's random weights, e.g. for an ablation).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a state dict of that architecture, or for another ``weights``.
    """
    if weights not in ("released", "random"):
        raise ValueError(f"weights must be 'released' or 'random', got {weights!r}.")
    state, layers, hidden = encoder_state(path)
    model = HuGNN(arch, out_features=out_features, layers=layers, hidden=hidden, dropout=dropout, norm=norm, pooling=pooling)
    return model.load_encoder(state, source=str(path)) if weights == "released" else model
