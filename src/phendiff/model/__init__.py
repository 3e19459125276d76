"""The noise-prediction network and model folders on disk."""
