"""Scenarios: the model (model.py), and YAML loading with validation (load.py)."""
