"""Metrics, the few-shot protocol, meta-overfitting diagnostics and plots."""

from sciml.evaluation.conformal import band_coverage, conformal_halfwidths, conformal_quantile
from sciml.evaluation.diagnostics import generalization_gap, leave_one_group_out
from sciml.evaluation.metrics import (
    accuracy,
    expected_calibration_error,
    mae,
    mse,
    on_query,
    r2,
    rmse,
    roc_auc,
)
from sciml.evaluation.plots import plot_bars, plot_confusion, plot_metric_vs_shots, plot_training_curves
from sciml.evaluation.protocol import RESULT_COLUMNS, few_shot_results, held_out_metrics, split_generator, summarize
from sciml.evaluation.tables import mean_ci, summary_table

__all__ = [
    "RESULT_COLUMNS",
    "accuracy",
    "band_coverage",
    "conformal_halfwidths",
    "conformal_quantile",
    "expected_calibration_error",
    "few_shot_results",
    "generalization_gap",
    "held_out_metrics",
    "leave_one_group_out",
    "mae",
    "mean_ci",
    "mse",
    "on_query",
    "plot_bars",
    "plot_confusion",
    "plot_metric_vs_shots",
    "plot_training_curves",
    "r2",
    "rmse",
    "roc_auc",
    "split_generator",
    "summarize",
    "summary_table",
]
