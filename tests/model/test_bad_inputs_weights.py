"""Bad weights files: one line saying what the file is, never torch's paragraphs or a list of 172 mismatches."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from s3.model import WeightsMismatchError, build_network, load_network_weights


def one_line(error: BaseException) -> str:
    message = str(error)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    "content",
    [b"not a checkpoint at all\n", bytes(range(256)) * 4, pickle.dumps([1, 2, 3]), b""],
    ids=["text", "binary", "plain-pickle", "empty"],
)
def test_non_checkpoint_file_is_named_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsMismatchError) as caught:
        load_network_weights(build_network("cutie", "tiny"), path)
    assert one_line(caught.value) == f"{path} is not a torch checkpoint / state dict"


def test_tensor_instead_of_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(WeightsMismatchError) as caught:
        load_network_weights(build_network("cutie", "tiny"), path)
    assert one_line(caught.value) == f"{path} is not a torch checkpoint / state dict (it holds a Tensor)"


def test_checkpoint_of_another_size_says_which(tmp_path: Path) -> None:
    tiny = build_network("cutie", "tiny").state_dict()
    exported = tmp_path / "export.pth"
    torch.save({"network": tiny, "preset": "cutie", "size": "tiny", "global_step": 3}, exported)
    plain = tmp_path / "plain.pth"
    torch.save(tiny, plain)
    small = build_network("cutie", "small")
    for path in (exported, plain):  # recorded in the file, or recognised by its shapes
        with pytest.raises(WeightsMismatchError) as caught:
            load_network_weights(small, path)
        assert one_line(caught.value) == f"{path}: this checkpoint is size tiny, the config asks for size small"


def test_checkpoint_of_another_preset_says_which(tmp_path: Path) -> None:
    path = tmp_path / "dq.pth"
    torch.save(build_network("cutie_dq", "tiny").state_dict(), path)
    with pytest.raises(WeightsMismatchError) as caught:
        load_network_weights(build_network("cutie", "tiny"), path)
    message = one_line(caught.value)
    assert message == f"{path}: this checkpoint is preset cutie_dq, the config asks for preset cutie", message


def test_unrecognised_layout_still_lists_the_keys(tmp_path: Path) -> None:
    state = build_network("cutie", "tiny").state_dict()
    state.pop("key_proj.key_proj.weight")
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError) as caught:
        load_network_weights(build_network("cutie", "tiny"), path)
    assert "missing keys (1): key_proj.key_proj.weight" in one_line(caught.value)
