"""Every learner and every law of the package passes the shipped conformance suites."""

from __future__ import annotations

import pytest
import torch

from sciml.meta import (
    ANIL,
    MAML,
    ConditionalNeuralProcess,
    CurveFit,
    DeepKernelGP,
    FineTune,
    LearnedOptimizer,
    MatchingNet,
    MetaSGD,
    PriorMAP,
    ProtoNet,
    RelationNet,
    Reptile,
    Scratch,
    SiameseNet,
)
from sciml.models import MLP, ConditionalNeuralProcessNet
from sciml.models.laws import JMAK, Arrhenius, GeneralizedLogistic, JMAKArrhenius, LarsonMiller, LinearBasis, Norton
from sciml.tasks import Task, TensorData
from sciml.testing import LawConformance, LearnerConformance
from tests.meta.cases import blob_tasks


def _regression_tasks(n_tasks: int = 4, n: int = 12) -> list[Task]:
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n_tasks):
        x = torch.rand(n, 1, generator=g) * 4 - 2
        y = (1 + 0.3 * i) * torch.sin(x + 0.2 * i)
        out.append(Task(TensorData(x, y), TensorData.empty_like(TensorData(x, y)), name=f"sine{i}"))
    return out


def _jmak_tasks(arrhenius: bool) -> list[Task]:
    from sciml.materials import SyntheticAlloyFamily

    tasks = SyntheticAlloyFamily("W_recrystallization").tasks(4, seed=3, dtype=torch.float64)
    if arrhenius:
        return list(tasks)
    return [t.with_split(TensorData(t.support.x[:, 0], t.support.y), TensorData(t.query.x[:, 0], t.query.y)) for t in tasks]


class _Regression(LearnerConformance):
    def make_tasks(self) -> list[Task]:
        return _regression_tasks()

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].reshape(-1))  # [n] against the model's [n, 1]


class TestMAML(_Regression):
    def make_learner(self) -> MAML:
        return MAML(MLP(1, (8,), 1), inner_lr=0.05, inner_steps=2, meta_batch_size=2)


class TestFirstOrderMAML(_Regression):
    def make_learner(self) -> MAML:
        return MAML(MLP(1, (8,), 1), inner_lr=0.05, inner_steps=2, meta_batch_size=2, first_order=True)


class TestANIL(_Regression):
    def make_learner(self) -> ANIL:
        return ANIL(MLP(1, (8,), 1), inner_lr=0.05, inner_steps=2, meta_batch_size=2)


class TestMetaSGD(_Regression):
    def make_learner(self) -> MetaSGD:
        return MetaSGD(MLP(1, (8,), 1), inner_lr=0.05, meta_batch_size=2)


class TestLearnedOptimizer(_Regression):
    def make_learner(self) -> LearnedOptimizer:
        return LearnedOptimizer(MLP(1, (8,), 1), inner_lr=0.05, inner_steps=2, hidden=4, meta_batch_size=2)


class TestReptile(_Regression):
    def make_learner(self) -> Reptile:
        return Reptile(MLP(1, (8,), 1), inner_lr=0.05, inner_steps=2, meta_batch_size=2)


class TestFineTune(_Regression):
    def make_learner(self) -> FineTune:
        return FineTune(MLP(1, (8,), 1), inner_steps=3, meta_batch_size=2)


class TestScratch(_Regression):
    def make_learner(self) -> Scratch:
        return Scratch(MLP(1, (8,), 1), inner_steps=3)


class TestProtoNet(LearnerConformance):
    per_class = True

    def make_learner(self) -> ProtoNet:
        return ProtoNet(MLP(2, (8,), 4), n_way=2, meta_batch_size=2)

    def make_tasks(self) -> list[Task]:
        return blob_tasks()

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:4], torch.tensor([0, 1, 2, 1]))  # a label >= n_way


class TestMatchingNet(TestProtoNet):
    def make_learner(self) -> MatchingNet:
        return MatchingNet(MLP(2, (8,), 4), n_way=2, fce_dim=4, fce_steps=2, meta_batch_size=2)


class TestTransductiveProtoNet(TestProtoNet):
    def make_learner(self) -> ProtoNet:
        return ProtoNet(MLP(2, (8,), 4), n_way=2, transductive_steps=2, meta_batch_size=2)


class TestRelationNet(TestProtoNet):
    def make_learner(self) -> RelationNet:
        return RelationNet(MLP(2, (8,), 4), n_way=2, embedding_dim=4, hidden=6, meta_batch_size=2)


class TestSiameseNet(TestProtoNet):
    def make_learner(self) -> SiameseNet:
        return SiameseNet(MLP(2, (8,), 4), n_way=2, meta_batch_size=2)


class TestDeepKernelGPClassifier(TestProtoNet):
    def make_learner(self) -> DeepKernelGP:
        return DeepKernelGP(MLP(2, (8,), 4), task="classification", meta_batch_size=2)


class TestDeepKernelGPRegression(LearnerConformance):
    def make_learner(self) -> DeepKernelGP:
        return DeepKernelGP(MLP(1, (8,), 4), task="regression", meta_batch_size=2)

    def make_tasks(self) -> list[Task]:
        return _regression_tasks()

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].long().reshape(-1))  # integer targets


class TestConditionalNeuralProcess(_Regression):
    def make_learner(self) -> ConditionalNeuralProcess:
        return ConditionalNeuralProcess(ConditionalNeuralProcessNet(1, 1, width=8, encoder_layers=1, decoder_layers=1),
                                        meta_batch_size=2)


class _IsothermalLaw(LearnerConformance):
    def make_tasks(self) -> list[Task]:
        return _jmak_tasks(arrhenius=False)

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].reshape(-1, 1))  # [n, 1] against the law's [n]


class TestCurveFit(_IsothermalLaw):
    def make_learner(self) -> CurveFit:
        return CurveFit(JMAK().double())


class TestAvramiPlot(_IsothermalLaw):
    def make_learner(self):
        from sciml.materials.avrami import AvramiPlot

        return AvramiPlot(JMAK().double())


class TestPriorMAP(LearnerConformance):
    def make_learner(self) -> PriorMAP:
        return PriorMAP(JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0).double())

    def make_tasks(self) -> list[Task]:
        return _jmak_tasks(arrhenius=True)

    def bad_support(self, task: Task) -> TensorData:
        return TensorData(task.data.x[:3], task.data.y[:3].reshape(-1, 1))


class TestGaussNewtonMAMLOnALaw(TestPriorMAP):
    def make_learner(self) -> MAML:
        return MAML(JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0).double(), inner_optimizer="gauss_newton", inner_lr=1.0,
                    inner_steps=3, inner_prior_precision=0.01, first_order=True, meta_batch_size=2, outer_lr=0.01)


class TestLearnedGaussNewtonOnALaw(TestPriorMAP):
    def make_learner(self) -> LearnedOptimizer:
        return LearnedOptimizer(JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0).double(), inner_optimizer="gauss_newton",
                                inner_lr=1.0, inner_steps=3, hidden=4, meta_batch_size=2, outer_lr=0.01)


class TestTanimotoKNN(LearnerConformance):
    per_class = True

    def make_learner(self):
        pytest.importorskip("rdkit")
        from sciml.chem.fingerprints import TanimotoKNN

        return TanimotoKNN(neighbours=2)

    def make_tasks(self) -> list[Task]:
        pytest.importorskip("rdkit")
        from sciml.chem.featurize import smiles_to_graph
        from sciml.tasks import GraphData

        smiles = ["CCO", "CCCO", "CCCCO", "CCN", "CCCN", "c1ccccc1", "c1ccccc1O", "c1ccccc1N", "c1ccncc1", "CC(=O)O"]
        labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 0])
        data = GraphData(tuple(smiles_to_graph(s) for s in smiles), labels)
        return [Task(data, GraphData.empty_like(data), name=f"assay{i}") for i in range(2)]


class TestCompositionRidge(LearnerConformance):
    def make_learner(self):
        pytest.importorskip("pymatgen")
        from sciml.materials.composition import CompositionRidge

        return CompositionRidge()

    def make_tasks(self) -> list[Task]:
        pytest.importorskip("pymatgen")
        from pymatgen.core import Lattice, Structure

        from sciml.materials.crystal_graph import structure_to_graph
        from sciml.tasks import GraphData

        pairs = [("Na", "Cl"), ("K", "Cl"), ("Mg", "O"), ("Ca", "O"), ("Li", "F"), ("Na", "F"), ("K", "Br"), ("Rb", "I")]
        graphs = tuple(structure_to_graph(Structure(Lattice.cubic(4.0 + 0.2 * i), list(p), [[0, 0, 0], [0.5, 0.5, 0.5]]), 6.0, 8)
                       for i, p in enumerate(pairs))
        y = torch.linspace(1.3, 2.0, len(pairs))[:, None]
        data = GraphData(graphs, y)
        return [Task(data, GraphData.empty_like(data), name=f"family{i}") for i in range(2)]


class TestJMAK(LawConformance):
    def make_law(self) -> JMAK:
        return JMAK(k=1e-3, n=1.5).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.logspace(1, 4, 8, dtype=torch.float64)
        return t, 1 - torch.exp(-((1e-3 * t) ** 1.5))


class TestJMAKWithIncubation(TestJMAK):
    def make_law(self) -> JMAK:
        return JMAK(k=1e-3, n=1.5, incubation=True, t0=5.0).double()


class TestJMAKArrhenius(LawConformance):
    def make_law(self) -> JMAKArrhenius:
        return JMAKArrhenius(T_ref=1573.15, k_ref=1e-4, Q=400.0, n=1.5).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.logspace(3, 6, 6, dtype=torch.float64)
        x = torch.cat([torch.stack([t, torch.full_like(t, T)], 1) for T in (1523.15, 1623.15)])
        return x, self.make_law()(x).detach()


class TestGeneralizedLogistic(LawConformance):
    def make_law(self) -> GeneralizedLogistic:
        return GeneralizedLogistic(T_ref=1573.15, B_ref=2e-4, Q_B=300.0, M_ref=2e4, Q_M=350.0, nu=0.7).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.logspace(3, 5, 6, dtype=torch.float64)
        x = torch.cat([torch.stack([t, torch.full_like(t, T)], 1) for T in (1523.15, 1623.15)])
        return x, self.make_law()(x).detach()


class TestForman(LawConformance):
    def make_law(self):
        from sciml.models.laws.forman import Forman

        return Forman(C=7.13e-9, n=2.7, Kc=71.3).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        dk = torch.tensor([5.0, 8.0, 12.0, 18.0, 25.0], dtype=torch.float64)
        x = torch.cat([torch.stack([dk, torch.full_like(dk, r)], 1) for r in (0.1, 0.5)])
        return x, self.make_law()(x).detach()


class TestLarsonMiller(LawConformance):
    def make_law(self) -> LarsonMiller:
        return LarsonMiller(C=18.0, P_ref=45.0, slope=-9.0).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.tensor([[1900.0, 40.0], [2100.0, 30.0], [2300.0, 20.0], [2500.0, 10.0]], dtype=torch.float64)
        return x, self.make_law()(x).detach()


class TestLarsonMillerFixedC(TestLarsonMiller):
    def make_law(self) -> LarsonMiller:
        return LarsonMiller(C=20.0, P_ref=45.0, slope=-9.0, fit_C=False).double()


class TestNorton(LawConformance):
    def make_law(self) -> Norton:
        return Norton(rate_ref=1e-2, n=4.0, Q=400.0).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.tensor([[1900.0, 40.0], [2100.0, 30.0], [2300.0, 20.0], [2500.0, 10.0], [2100.0, 60.0]], dtype=torch.float64)
        return x, self.make_law()(x).detach()


class TestArrhenius(LawConformance):
    def make_law(self) -> Arrhenius:
        return Arrhenius(T_ref=800.0, k_ref=1.0, Q=100.0).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        T = torch.linspace(700, 900, 6, dtype=torch.float64)
        return T, self.make_law()(T).detach()


class TestLinearBasis(LawConformance):
    def make_law(self) -> LinearBasis:
        return LinearBasis(degree=2).double()

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.linspace(-1, 1, 7, dtype=torch.float64)
        return x, 1 + x - 0.5 * x**2

    def test_initial_guess_is_the_exact_fit(self) -> None:
        x, y = self.make_data()
        assert self.make_law().initial_guess(x, y)["weight"] == pytest.approx([1.0, 1.0, -0.5])


def test_the_suites_can_fail() -> None:
    """A learner whose adaptation changes its meta-parameters, and a law with no units, fail."""

    class Mutating(MAML):
        def adapt_many(self, supports, steps):
            with torch.no_grad():
                next(self.model.parameters()).add_(1.0)
            return super().adapt_many(supports, steps)

    class TestMutating(_Regression):
        def make_learner(self) -> MAML:
            return Mutating(MLP(1, (8,), 1), meta_batch_size=2)

    with pytest.raises(AssertionError, match="adapt changed"):
        TestMutating().test_adapt_never_changes_the_learned_state()

    class Unitless(JMAK):
        def physical_params(self, params=None):
            out = super().physical_params(params)
            return {k: type(q)(q.value, "", q.description) for k, q in out.items()}

    class TestUnitless(TestJMAK):
        def make_law(self) -> JMAK:
            return Unitless(k=1e-3, n=1.5).double()

    with pytest.raises(AssertionError, match="has no unit"):
        TestUnitless().test_physical_params_have_units()
