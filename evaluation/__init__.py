"""Evaluation only (never imported by the service): splits, test sets, metrics, reports, baselines."""
