"""A training run's plumbing around the Lightning Trainer: the CLI's run hooks (global batch split, preset
expansion, checkpoint checks, run names), callbacks, the non-finite guard, checkpoints and their export,
strategies (DDP, DeepSpeed on CPU or GPU), the W&B logger and sweeps."""
