from __future__ import annotations

import numpy as np
import pytest
import torch

from s3.inference import ObjectIdError, ObjectManager


def test_non_contiguous_ids_and_repacking() -> None:
    manager = ObjectManager()
    assert manager.add([42, 7]) == [1, 2]
    assert manager.add([7, 255]) == [2, 3]
    assert manager.object_ids == [42, 7, 255] and manager.index_of(255) == 3
    internal = torch.tensor([[0, 1], [2, 3]])
    assert manager.to_external(internal).tolist() == [[0, 42], [7, 255]]
    assert manager.remove([7]) == [0, 2]
    assert manager.object_ids == [42, 255] and manager.index_of(255) == 2
    assert manager.has_all([42]) and not manager.has_all([42, 7])


def test_bad_ids() -> None:
    manager = ObjectManager()
    with pytest.raises(ObjectIdError, match="positive integers"):
        manager.add([0])
    with pytest.raises(ObjectIdError, match="positive integers"):
        manager.add([1.5])
    assert manager.add([np.int64(4)]) == [1]
    with pytest.raises(ObjectIdError, match="not tracked"):
        manager.remove([9])
