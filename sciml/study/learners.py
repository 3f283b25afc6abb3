"""Learners from config tables: see :mod:`sciml.meta.tables`."""

from sciml.meta.tables import FIT_KEYS, SPEC_KEYS, build_learner, enabled_learners

__all__ = ["FIT_KEYS", "SPEC_KEYS", "build_learner", "enabled_learners"]
