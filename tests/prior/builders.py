"""Small priors of every domain, built in seconds, for tests and the README workflows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sciml.prior import Prior


def law_prior(iterations: int = 0) -> Prior:
    """A JMAK-Arrhenius MAML prior (Gauss-Newton inner loop), optionally meta-trained on a
    synthetic tungsten family for ``iterations`` steps."""
    from sciml.materials import SyntheticAlloyFamily
    from sciml.meta import MAML
    from sciml.models.laws import JMAKArrhenius
    from sciml.prior.domains.law import JMAK_ARRHENIUS_SCHEMA, LawDomain

    torch.manual_seed(0)
    law = JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()
    learner = MAML(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=10, inner_prior_precision=0.01,
                   first_order=True, outer_lr=0.01, meta_batch_size=8)
    schema = JMAK_ARRHENIUS_SCHEMA.with_training_ranges(np.array([[60.0, 1373.15], [3.6e6, 1773.15]]))
    if iterations:
        tasks = SyntheticAlloyFamily("W_recrystallization").tasks(24, seed=0)
        learner.fit(tasks, iterations=iterations, shots=[3, 5], progress=False)
    return Prior(learner, LawDomain(schema), noise={"kind": "gaussian", "sd": 0.05, "unit": "1"}, name="tiny-tungsten",
                 metrics={"median_t50_rel_error@3": float("nan")})


def creep_prior() -> Prior:
    """An untrained Larson-Miller prior (``C = 20`` fixed, Gauss-Newton calibration) reading
    temperatures, stresses and rupture times in any unit."""
    from sciml.meta import FineTune
    from sciml.models.laws import LarsonMiller
    from sciml.prior.domains.law import LARSON_MILLER_SCHEMA, LawDomain

    law = LarsonMiller(C=20.0, P_ref=45.0, slope=-9.0, fit_C=False).double()
    learner = FineTune(law, inner_optimizer="gauss_newton", inner_lr=1.0, inner_steps=10, inner_damping=0.01, inner_prior_precision=0.01)
    schema = LARSON_MILLER_SCHEMA.with_training_ranges(np.array([[1500.0, 5.0], [2800.0, 500.0]]))
    return Prior(learner, LawDomain(schema), noise={"kind": "gaussian", "sd": 0.3, "unit": "log10(h)"}, name="tiny-creep")


def molecule_prior() -> Prior:
    """A GIN encoder (fixed BatchNorm statistics) and a MAML logistic head over its embeddings."""
    from sciml.meta import MAML
    from sciml.models import MLP
    from sciml.models.gnn import GIN
    from sciml.prior.domains.molecules import MoleculeDomain

    torch.manual_seed(0)
    encoder = GIN(1, hidden=16, layers=2, norm="frozen_batch")
    head = MAML(MLP(16, (), 1), loss="bce", inner_lr=0.5, inner_steps=5)
    return Prior(head, MoleculeDomain("simple"), encoder=encoder, encoder_method="embed", name="tiny-molecules")


def crystal_prior() -> Prior:
    """A small LayerNorm CGCNN MAML prior on log10 of a positive target."""
    from sciml.meta import MAML
    from sciml.models.cgcnn import CGCNN
    from sciml.prior.domains.crystals import CrystalDomain

    torch.manual_seed(0)
    model = CGCNN(1, atom_dim=8, layers=1, hidden=8, cutoff=6.0, norm="layer")
    learner = MAML(model, inner_lr=0.01, inner_steps=3)
    return Prior(learner, CrystalDomain("refractive index n", "1", "log10", radius=6.0, max_neighbors=8),
                 noise={"kind": "conformal", "level": 0.9, "halfwidth": 0.05, "unit": "log10(n)"}, name="tiny-crystals")


def light_curve_prior() -> Prior:
    """ProtoNet over a linear embedding of standardized light-curve features, initialized as the
    identity (nearest centroid on standardized features)."""
    from sciml.meta import ProtoNet
    from sciml.models import MLP, Standardize
    from sciml.prior.domains.light_curves import LightCurveDomain

    torch.manual_seed(0)
    scale = Standardize(8)
    scale.mean.copy_(torch.tensor([0.0, 0.5, 0.0, -1.0, 0.3, 0.2, 3.0, 3.0]))
    scale.std.copy_(torch.tensor([0.7, 0.4, 0.5, 0.8, 0.2, 0.2, 1.8, 1.8]))
    embed = MLP(8, (), 8)
    with torch.no_grad():
        embed.head.weight.copy_(torch.eye(8))
        embed.head.bias.zero_()
    return Prior(ProtoNet(embed, n_way=5), LightCurveDomain(), encoder=scale, name="tiny-light-curves")


def structure(a: float, species: tuple[str, str] = ("Na", "Cl")):
    """A rock-salt-like two-atom cubic cell with lattice constant ``a`` [angstrom]."""
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def light_curve(period: float, seed: int, n: int = 120, amplitude: float = 0.5, shape: float = 0.4):
    """A periodic light curve over 200 d (times [d], magnitudes), with noise 0.02 mag."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 200, n))
    phase = 2 * np.pi * t / period
    mag = 12 + amplitude * (np.sin(phase) + shape * np.sin(2 * phase + 0.5) + shape / 2 * np.sin(3 * phase + 1.0)) + rng.normal(0, 0.02, n)
    return t, mag, np.full(n, 0.02)


def write_all(root: Path) -> dict[str, Path]:
    """Save one small prior of each domain under ``root`` and return their folders."""
    out = {}
    for name, build in (("tungsten", law_prior), ("molecules", molecule_prior), ("crystals", crystal_prior),
                        ("light-curves", light_curve_prior)):
        out[name] = build().save(root / name)
    return out
