"""Predictions: the BG/NBD and Gamma-Gamma fits behind marts.customer_predictions (README, "Predictions")."""
