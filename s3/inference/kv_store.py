"""Bucketed key-value token stores: the working memory and the long-term memory of the predictor.

A bucket groups objects that entered memory on the same frame: they share keys (B CK M), shrinkage
(B 1 M) and optionally selection (B CK M); each object has its own values (B CV M). The first
`permanent` tokens of a bucket are never evicted. Optional usage counters (sum of the affinity each
non-permanent token received, and the number of reads it survived) rank tokens for consolidation and
pruning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

NEW_TOKEN_LIFE = 1e-7  # a token never read has usage 0 / 1e-7 = 0 (and no division by zero)


@dataclass
class MemoryBucket:
    """The tokens of one bucket. Usage counters cover only the non-permanent tokens (B M-permanent)."""

    object_ids: list[int]
    key: Tensor
    shrinkage: Tensor
    selection: Tensor | None
    values: dict[int, Tensor]
    permanent: int = 0
    use_count: Tensor | None = None
    life_count: Tensor | None = None

    @property
    def size(self) -> int:
        return self.key.shape[-1]

    @property
    def non_permanent_size(self) -> int:
        return self.size - self.permanent

    def usage(self) -> Tensor:
        """B (M - permanent): mean affinity per read of each non-permanent token."""
        if self.use_count is None or self.life_count is None:
            raise RuntimeError("this memory store does not count usage")
        return self.use_count / self.life_count

    def select_non_permanent(self, keep: Tensor) -> None:
        """Keeps the permanent tokens and, per batch element, the non-permanent tokens at `keep` (B K)."""
        p = self.permanent

        def take(x: Tensor) -> Tensor:
            rest = torch.gather(x[..., p:], -1, keep.unsqueeze(1).expand(-1, x.shape[1], -1))
            return torch.cat([x[..., :p], rest], dim=-1)

        self.key, self.shrinkage = take(self.key), take(self.shrinkage)
        self.selection = None if self.selection is None else take(self.selection)
        self.values = {obj: take(v) for obj, v in self.values.items()}
        if self.use_count is not None and self.life_count is not None:
            self.use_count = torch.gather(self.use_count, -1, keep)
            self.life_count = torch.gather(self.life_count, -1, keep)

    def drop_non_permanent_range(self, start: int, end: int) -> None:
        """Removes non-permanent tokens [start, end) (indices relative to the first non-permanent token)."""
        p = self.permanent
        if end <= start:
            return

        def cut(x: Tensor) -> Tensor:
            return torch.cat([x[..., : p + start], x[..., p + end :]], dim=-1)

        self.key, self.shrinkage = cut(self.key), cut(self.shrinkage)
        self.selection = None if self.selection is None else cut(self.selection)
        self.values = {obj: cut(v) for obj, v in self.values.items()}
        if self.use_count is not None and self.life_count is not None:
            self.use_count = torch.cat([self.use_count[:, :start], self.use_count[:, end:]], dim=-1)
            self.life_count = torch.cat([self.life_count[:, :start], self.life_count[:, end:]], dim=-1)


@dataclass
class KeyValueStore:
    """Buckets of tokens, with or without selection and usage counters."""

    save_selection: bool
    save_usage: bool
    buckets: dict[int, MemoryBucket] = field(default_factory=dict)
    next_bucket_id: int = 0

    def bucket_of(self, object_id: int) -> int | None:
        for bucket_id, bucket in self.buckets.items():
            if object_id in bucket.values:
                return bucket_id
        return None

    def add(
        self,
        key: Tensor,
        shrinkage: Tensor,
        selection: Tensor | None,
        values: dict[int, Tensor],
        *,
        permanent_first: bool,
        bucket_id: int | None = None,
    ) -> list[int]:
        """Appends M' tokens: key B CK M', shrinkage B 1 M', selection B CK M', values id -> B CV M'.

        Objects not yet stored form one new bucket (or go to `bucket_id` when given, as the long-term store
        does for prototypes). With `permanent_first`, a bucket's first insertion is permanent. Returns the
        ids of the buckets that received tokens.
        """
        if bucket_id is not None:
            targets: dict[int, list[int]] = {bucket_id: list(values)}
        else:
            targets = {}
            new_objects = []
            for object_id in values:
                existing = self.bucket_of(object_id)
                if existing is None:
                    new_objects.append(object_id)
                else:
                    targets.setdefault(existing, []).append(object_id)
            if new_objects:
                targets[self.next_bucket_id] = new_objects
                self.next_bucket_id += 1
        for target, object_ids in targets.items():
            bucket = self.buckets.get(target)
            token_selection = selection if self.save_selection else None
            if bucket is None:
                permanent = key.shape[-1] if permanent_first else 0
                bucket = MemoryBucket(list(object_ids), key, shrinkage, token_selection, {}, permanent)
                bucket.values = {obj: values[obj] for obj in object_ids}
                if self.save_usage:
                    bucket.use_count, bucket.life_count = self._new_counters(key, key.shape[-1] - permanent)
                self.buckets[target] = bucket
                continue
            missing = [obj for obj in bucket.object_ids if obj not in values]
            if missing:
                raise ValueError(f"memory insertion lacks values for object(s) {missing} of their bucket")
            bucket.key = torch.cat([bucket.key, key], dim=-1)
            bucket.shrinkage = torch.cat([bucket.shrinkage, shrinkage], dim=-1)
            if bucket.selection is not None and token_selection is not None:
                bucket.selection = torch.cat([bucket.selection, token_selection], dim=-1)
            for obj in bucket.object_ids:
                bucket.values[obj] = torch.cat([bucket.values[obj], values[obj]], dim=-1)
            if self.save_usage and bucket.use_count is not None and bucket.life_count is not None:
                use, life = self._new_counters(key, key.shape[-1])
                bucket.use_count = torch.cat([bucket.use_count, use], dim=-1)
                bucket.life_count = torch.cat([bucket.life_count, life], dim=-1)
        return list(targets)

    @staticmethod
    def _new_counters(key: Tensor, count: int) -> tuple[Tensor, Tensor]:
        use = torch.zeros(key.shape[0], count, device=key.device, dtype=torch.float32)
        return use, torch.full_like(use, NEW_TOKEN_LIFE)

    def update_usage(self, bucket_id: int, usage: Tensor) -> None:
        """usage: B M, the affinity mass each token of the bucket received in one read (permanent first)."""
        bucket = self.buckets[bucket_id]
        if not self.save_usage or bucket.use_count is None or bucket.life_count is None:
            return
        usage = usage[:, bucket.permanent :]
        if usage.shape[-1] == 0:
            return
        bucket.use_count = bucket.use_count + usage.float()
        bucket.life_count = bucket.life_count + 1

    def remove_objects(self, object_ids: set[int]) -> None:
        """Drops the values of `object_ids`; buckets left without objects disappear with their keys."""
        for bucket_id in list(self.buckets):
            bucket = self.buckets[bucket_id]
            bucket.object_ids = [obj for obj in bucket.object_ids if obj not in object_ids]
            bucket.values = {obj: v for obj, v in bucket.values.items() if obj not in object_ids}
            if not bucket.object_ids:
                del self.buckets[bucket_id]

    def num_tokens(self) -> int:
        return sum(bucket.size for bucket in self.buckets.values())
