"""The training engine and what builds on it: callbacks, the run registry, ablation studies, demos."""
