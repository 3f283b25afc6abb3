"""Conformance suite for physical laws (:class:`~sciml.models.laws.PhysicalLaw`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from sciml.models.config import build_module, module_config


class LawConformance:
    """The law contract, as pytest tests. Subclass as ``Test...`` and implement
    :meth:`make_law` and :meth:`make_data`.

    Checked: one finite output per input row; NaN inputs and targets refused with a message;
    every named physical parameter has a unit and a finite value; bounds and initial guesses
    cover exactly the parameters; the config and state dict rebuild the same law; gradients
    with respect to every parameter are finite.
    """

    def make_law(self) -> Any:
        """A law with its initial parameters."""
        raise NotImplementedError

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Valid inputs ``[n, ...]`` and targets ``[n]``."""
        raise NotImplementedError

    def test_one_finite_output_per_row(self) -> None:
        law, (x, y) = self.make_law(), self.make_data()
        out = law(x)
        assert out.shape == y.shape, f"output {tuple(out.shape)} vs targets {tuple(y.shape)}"
        assert torch.isfinite(out).all()

    def test_nan_inputs_and_targets_are_refused(self) -> None:
        law, (x, y) = self.make_law(), self.make_data()
        bad_x = x.clone()
        bad_x.view(len(x), -1)[0, 0] = math.nan
        for call in (lambda: law(bad_x), lambda: law.check_targets(torch.where(torch.arange(len(y)) == 0, math.nan, y))):
            try:
                call()
            except ValueError as err:
                assert "NaN" in str(err) or "nan" in str(err).lower(), str(err)
                continue
            raise AssertionError(f"{type(law).__name__} accepted NaN")

    def test_physical_params_have_units(self) -> None:
        params = self.make_law().physical_params()
        assert params
        for name, q in params.items():
            assert q.unit, f"{name} has no unit ('1' for dimensionless)"
            assert torch.isfinite(q.value).all(), name

    def test_bounds_and_initial_guess_cover_the_parameters(self) -> None:
        law, (x, y) = self.make_law(), self.make_data()
        names = {n for n, _ in law.named_parameters()}
        assert set(law.bounds) == names
        guess = law.initial_guess(x, y)
        assert set(guess) == names and all(np.isfinite(np.asarray(v, dtype=float)).all() for v in guess.values())
        for n, (lo, hi) in law.bounds.items():
            assert lo < hi, n

    def test_config_rebuilds_the_same_law(self) -> None:
        law, (x, _) = self.make_law(), self.make_data()
        with torch.no_grad():
            for p in law.parameters():
                p.add_(0.01)
        cfg = module_config(law)
        assert cfg is not None, "a law must remember its constructor arguments (Configurable.remember)"
        rebuilt = build_module(cfg).to(x.dtype)
        rebuilt.load_state_dict(law.state_dict())
        torch.testing.assert_close(rebuilt(x), law(x))

    def test_gradients_are_finite(self) -> None:
        law, (x, y) = self.make_law(), self.make_data()
        loss = ((law(x) - y) ** 2).sum()
        grads = torch.autograd.grad(loss, list(law.parameters()))
        assert all(torch.isfinite(g).all() for g in grads)
