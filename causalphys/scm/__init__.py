"""Structural causal models: graphs, mechanisms, interventions, sampling, counterfactuals, the DoWhy bridge."""
