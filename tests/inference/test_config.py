from __future__ import annotations

import pytest

from s3.inference import InferenceConfig, InferenceConfigError, evaluation_size, inference_config


def test_defaults_are_cutie_eval_config() -> None:
    config = InferenceConfig()
    assert (config.mem_every, config.top_k, config.stagger_updates, config.chunk_size) == (5, 30, 5, -1)
    assert (config.max_mem_frames, config.use_long_term, config.flip_aug, config.amp) == (5, False, False, False)
    lt = config.long_term
    assert (lt.max_mem_frames, lt.min_mem_frames, lt.num_prototypes, lt.max_num_tokens, lt.buffer_tokens) == (
        10,
        5,
        128,
        10000,
        2000,
    )


@pytest.mark.parametrize(
    ("mem_every", "stagger", "expected"),
    [(10, 5, {1, 3, 6, 8, 10}), (5, 5, {1, 2, 3, 4, 5}), (3, 5, {1, 2, 3}), (5, 1, {1}), (5, 3, {1, 3, 5})],
)
def test_stagger_offsets(mem_every: int, stagger: int, expected: set[int]) -> None:
    assert InferenceConfig(mem_every=mem_every, stagger_updates=stagger).stagger_offsets() == expected


def test_dataset_overrides_and_sizes() -> None:
    burst = inference_config("cutie", "burst")
    assert burst.use_long_term and burst.mem_every == 10
    assert evaluation_size("cutie", "burst") == 600 and evaluation_size("cutie", "davis") == 480
    assert inference_config("cutie", "lvos").use_long_term
    plus = inference_config("cutie-plus", "davis")
    assert plus.max_mem_frames == 10 and plus.mem_every == 3 and evaluation_size("cutie-plus", "davis") == 720
    s3 = inference_config("s3-release", "lvos")
    assert s3.use_long_term and s3.flip_aug and s3.mem_every == 10
    assert (s3.long_term.max_mem_frames, s3.long_term.min_mem_frames) == (25, 15)
    assert (s3.long_term.max_num_tokens, s3.long_term.buffer_tokens, s3.long_term.num_prototypes) == (30000, 3000, 128)
    assert evaluation_size("s3-release", "lvos") == 720  # the global size overrides LVOS's 600
    assert inference_config("cutie", top_k=None).top_k is None


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(InferenceConfigError, match="mem_every"):
        InferenceConfig(mem_every=0)
    with pytest.raises(InferenceConfigError, match="max_num_tokens"):
        InferenceConfig(use_long_term=True, long_term={"max_num_tokens": 100, "num_prototypes": 128})
    with pytest.raises(InferenceConfigError, match="unknown inference preset"):
        inference_config("nope")
    with pytest.raises(InferenceConfigError, match="unknown field"):
        inference_config("cutie", mem_evry=3)
