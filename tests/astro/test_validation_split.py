"""Validation classes for choices made without the test classes are drawn from a split's training classes only."""

from __future__ import annotations

import pytest

from sciml.astro.benchmark import validation_split


def test_validation_classes_come_from_the_training_classes() -> None:
    train = ["CEP", "EB", "MIRA", "RRAB", "RRC", "DSCT", "WUMA", "BLAZ"]
    fit, validation = validation_split(train, 3, split=0)
    assert len(validation) == 3 and len(fit) == 5
    assert set(fit) | set(validation) == set(train) and not set(fit) & set(validation)
    assert validation_split(train, 3, split=0) == (fit, validation)  # seeded by the split
    assert {tuple(validation_split(train, 3, split=s)[1]) for s in range(5)} != {tuple(validation)}  # and differs between splits


@pytest.mark.parametrize("n", [0, 7])
def test_validation_leaves_two_training_classes(n: int) -> None:
    with pytest.raises(ValueError, match=r"n_validation \(episodes.validate in a study\) must be between 1 and 6"):
        validation_split(["a", "b", "c", "d", "e", "f", "g", "h"], n, split=0)
