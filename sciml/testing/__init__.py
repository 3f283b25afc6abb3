"""Conformance suites for your own extensions, run with pytest.

Subclass :class:`LearnerConformance` or :class:`LawConformance` in a test module, name the
subclass ``Test...`` and fill in the factory methods; pytest then runs every check of the
contract on your learner or law::

    from sciml.testing import LawConformance

    class TestMyLaw(LawConformance):
        def make_law(self):
            return MyLaw(...)

        def make_data(self):
            return x, y  # valid inputs and targets
"""

from sciml.testing.laws import LawConformance
from sciml.testing.learners import LearnerConformance

__all__ = ["LawConformance", "LearnerConformance"]
