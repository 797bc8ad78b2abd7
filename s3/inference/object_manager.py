"""External object ids <-> internal channel indices.

Users name objects with any positive integers (non-contiguous, in any order of appearance). Internally
objects occupy consecutive channels 1..N of the probability tensor (0 is background) in order of
registration; deleting objects re-packs the remaining ones without changing their relative order.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import torch
from torch import Tensor

from s3.errors import S3Error


class ObjectIdError(S3Error, ValueError):
    """An object id is invalid (not a positive integer) or unknown to the predictor."""


class ObjectManager:
    """Keeps the tracked objects' external ids in internal order (internal index = position + 1)."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._index: dict[int, int] = {}

    @property
    def object_ids(self) -> list[int]:
        """External ids in internal order."""
        return list(self._ids)

    @property
    def num_objects(self) -> int:
        return len(self._ids)

    def __contains__(self, object_id: int) -> bool:
        return object_id in self._index

    def index_of(self, object_id: int) -> int:
        """Internal 1-based index of a tracked object."""
        if object_id not in self._index:
            raise ObjectIdError(f"object id {object_id} is not tracked (tracked: {self._ids})")
        return self._index[object_id]

    def has_all(self, object_ids: Iterable[int]) -> bool:
        return all(i in self._index for i in object_ids)

    def add(self, object_ids: Iterable[int]) -> list[int]:
        """Registers new ids (known ones are kept); returns the internal index of every given id."""
        indices = []
        for object_id in object_ids:
            object_id = check_object_id(object_id)
            if object_id not in self._index:
                self._ids.append(object_id)
                self._index[object_id] = len(self._ids)
            indices.append(self._index[object_id])
        return indices

    def remove(self, object_ids: Iterable[int]) -> list[int]:
        """Forgets ids and re-packs the others; returns the 0-based positions (in the old order) that remain."""
        to_remove = set(object_ids)
        unknown = sorted(to_remove - set(self._ids))
        if unknown:
            raise ObjectIdError(f"cannot remove object id(s) {unknown}: not tracked (tracked: {self._ids})")
        kept = [pos for pos, object_id in enumerate(self._ids) if object_id not in to_remove]
        self._ids = [self._ids[pos] for pos in kept]
        self._index = {object_id: pos + 1 for pos, object_id in enumerate(self._ids)}
        return kept

    def clear(self) -> None:
        self._ids, self._index = [], {}

    def to_external(self, internal_index: Tensor) -> Tensor:
        """An index mask of internal indices (0 = background) -> the same mask with external ids (int64)."""
        lookup = torch.tensor([0, *self._ids], dtype=torch.int64, device=internal_index.device)
        return lookup[internal_index.long()]


def check_object_id(object_id: object) -> int:
    """A positive Python int, or `ObjectIdError`."""
    if isinstance(object_id, torch.Tensor) and object_id.numel() == 1:
        object_id = object_id.item()
    if isinstance(object_id, bool) or not isinstance(object_id, numbers.Integral) or object_id < 1:
        raise ObjectIdError(f"object ids must be positive integers, got {object_id!r}")
    return int(object_id)
