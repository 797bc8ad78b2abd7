"""A 4-block, 32-channel spatial-semantic encoder configuration shared by the encoder tests (seconds, not minutes)."""

from __future__ import annotations

TINY = dict(
    embed_dim=32,
    depth=4,
    num_heads=2,
    img_size=64,
    stage_blocks=((0, 0), (1, 1), (2, 2), (3, 3)),
    conv_inplanes=8,
    deform_num_heads=4,
    n_points=2,
    semantic_heads=4,
)
