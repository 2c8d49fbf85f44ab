"""Triage: a deterministic, explainable verdict on every incident, optionally raised by a model."""
