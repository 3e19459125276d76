"""Evaluation: reconstruction error, FID/KID per condition, cell features and statistics."""
