"""The predictor's memories: pixel memory (working + long-term), sensory memory and object memory.

Policy (ARCHITECTURE.md §3.2): each bucket's first insertion is permanent; without long-term memory the
working memory is a FIFO of at most `max_mem_frames - 1` non-permanent frames; with it, a full working
memory is consolidated into `num_prototypes` long-term prototypes (highest-usage tokens as keys, values
and shrinkage read out with an affinity from the consolidated tokens), and the long-term store is pruned
by usage when it approaches `max_num_tokens`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s3.inference.config import InferenceConfig
from s3.inference.kv_store import KeyValueStore
from s3.model.memory_readout import (
    readout,
    similarity,
    similarity_by_query,
    softmax_affinity,
    topk_affinity,
    topk_readout,
    topk_usage,
)
from s3.model.network import VOSNetwork


class MemoryManager:
    """All per-video memories of one predictor, keyed by external object id.

    `topk_read`: read the pixel memory with the top-k inference form (`s3.model.memory_readout.topk_readout`) when
    `config.top_k` keeps fewer tokens than the memory holds; False reads with the reference dense affinity.
    """

    def __init__(self, config: InferenceConfig, sensory_dim: int, topk_read: bool = False) -> None:
        self.config = config
        self.topk_read = topk_read
        self.sensory_dim = sensory_dim
        self.use_long_term = config.use_long_term
        lt = config.long_term
        # Capacities exclude the permanent frame, hence "frames - 1".
        if self.use_long_term:
            self.max_work_frames = lt.max_mem_frames - 1
            self.min_work_frames = lt.min_mem_frames - 1
        else:
            self.max_work_frames = config.max_mem_frames - 1 if config.max_mem_frames > 0 else -1
            self.min_work_frames = 0
        self.working = KeyValueStore(save_selection=self.use_long_term, save_usage=self.use_long_term)
        self.long_term = KeyValueStore(save_selection=False, save_usage=self.use_long_term and lt.count_usage)
        self.sensory: dict[int, Tensor] = {}
        self.object_memory: dict[int, Tensor] = {}
        self.tokens_per_frame: int | None = None
        self.consolidations = 0

    # ------------------------------------------------------------------------------------------------ state
    @property
    def engaged(self) -> bool:
        """Whether anything has been memorised yet."""
        return bool(self.working.buckets)

    def remove_objects(self, object_ids: set[int]) -> None:
        """Purges every memory of `object_ids` (buckets left empty disappear)."""
        self.working.remove_objects(object_ids)
        self.long_term.remove_objects(object_ids)
        for store in (self.sensory, self.object_memory):
            for object_id in object_ids:
                store.pop(object_id, None)

    def initialize_sensory(self, object_ids: list[int], like: Tensor) -> None:
        """Zero sensory memory B S h w for objects that have none; `like` is a B C h w feature map."""
        batch, _, h, w = like.shape
        for object_id in object_ids:
            if object_id not in self.sensory:
                self.sensory[object_id] = torch.zeros(
                    batch, self.sensory_dim, h, w, device=like.device, dtype=torch.float32
                )

    def get_sensory(self, object_ids: list[int]) -> Tensor:
        """B N S h w in the given order."""
        return torch.stack([self.sensory[obj] for obj in object_ids], dim=1)

    def set_sensory(self, object_ids: list[int], sensory: Tensor) -> None:
        """sensory: B N S h w in the order of `object_ids`."""
        for i, object_id in enumerate(object_ids):
            self.sensory[object_id] = sensory[:, i].float()

    def token_counts(self) -> dict[str, int]:
        """Token totals, for tests and memory benchmarks."""
        working = self.working.buckets.values()
        return {
            "permanent": sum(b.permanent for b in working),
            "working": sum(b.non_permanent_size for b in working),
            "long_term": self.long_term.num_tokens(),
            "max_working_per_bucket": max((b.non_permanent_size for b in working), default=0),
            "max_long_term_per_bucket": max((b.size for b in self.long_term.buckets.values()), default=0),
        }

    # ------------------------------------------------------------------------------------------------- read
    def read(
        self,
        network: VOSNetwork,
        pix_feat: Tensor,
        query_key: Tensor,
        query_selection: Tensor,
        last_mask: Tensor,
        object_ids: list[int],
    ) -> Tensor:
        """Reads the memory for every tracked object.

        pix_feat: B C h w; query_key / query_selection: B CK h w; last_mask: B N H W (channels in the order
        of `object_ids`). Returns the object-transformer readout B N E h w in the order of `object_ids`.
        """
        batch, _, h, w = query_key.shape
        position = {obj: i for i, obj in enumerate(object_ids)}
        readouts: dict[int, Tensor] = {}
        qk = query_key.flatten(2).float()
        qe = query_selection.flatten(2).float()
        for bucket_id, bucket in self.working.buckets.items():
            long_bucket = self.long_term.buckets.get(bucket_id) if self.use_long_term else None
            long_size = 0 if long_bucket is None else long_bucket.size
            with torch.autocast(device_type=qk.device.type, enabled=False):
                if long_bucket is not None:
                    memory_key = torch.cat([long_bucket.key, bucket.key], dim=-1)
                    memory_shrinkage = torch.cat([long_bucket.shrinkage, bucket.shrinkage], dim=-1)
                else:
                    memory_key, memory_shrinkage = bucket.key, bucket.shrinkage
                num_memory = memory_key.shape[-1]
                top_k = self.config.top_k
                sparse = self.topk_read and top_k is not None and top_k < num_memory
                if sparse:
                    sim = similarity_by_query(memory_key.float(), memory_shrinkage.float(), qk, qe)
                    weights, indices = topk_affinity(sim, top_k)
                else:
                    sim = similarity(memory_key.float(), memory_shrinkage.float(), qk, qe)
                    affinity = softmax_affinity(sim, top_k)
            if self.use_long_term:
                # B M: affinity mass received by each memory token
                usage = topk_usage(weights, indices, num_memory) if sparse else affinity.sum(dim=2)
                self.working.update_usage(bucket_id, usage[:, long_size:])
                if long_bucket is not None:
                    self.long_term.update_usage(bucket_id, usage[:, :long_size])
            for chunk in self._chunks(bucket.object_ids):
                values = []
                for obj in chunk:
                    v = bucket.values[obj]
                    if long_bucket is not None:
                        v = torch.cat([long_bucket.values[obj], v], dim=-1)
                    values.append(v)
                stacked = torch.stack(values, dim=1)  # B n CV M
                n, channels = stacked.shape[1:3]
                with torch.autocast(device_type=qk.device.type, enabled=False):
                    values_flat = stacked.flatten(1, 2).float()
                    if sparse:
                        pixel_readout = topk_readout(weights, indices, values_flat)
                    else:
                        pixel_readout = readout(affinity, values_flat)
                    pixel_readout = pixel_readout.view(batch, n, channels, h, w)
                chunk_mask = last_mask[:, [position[obj] for obj in chunk]]
                fused = network.pixel_fusion(pix_feat, pixel_readout, self.get_sensory(chunk), chunk_mask)
                object_memory = torch.stack([self.object_memory[obj] for obj in chunk], dim=1).unsqueeze(2)
                memory_readout, _ = network.readout_query(fused, object_memory)
                for i, obj in enumerate(chunk):
                    readouts[obj] = memory_readout[:, i]
        return torch.stack([readouts[obj] for obj in object_ids], dim=1)

    def _chunks(self, object_ids: list[int]) -> list[list[int]]:
        size = self.config.chunk_size
        if size < 1:
            return [list(object_ids)]
        return [object_ids[i : i + size] for i in range(0, len(object_ids), size)]

    # -------------------------------------------------------------------------------------------------- add
    def add(
        self,
        key: Tensor,
        shrinkage: Tensor,
        selection: Tensor,
        mask_value: Tensor,
        summaries: Tensor,
        object_ids: list[int],
    ) -> None:
        """Memorises one frame.

        key / selection: B CK h w; shrinkage: B 1 h w; mask_value: B N CV h w; summaries: B N Q (E+1), all in
        the order of `object_ids` (every tracked object).
        """
        self.tokens_per_frame = key.shape[-2] * key.shape[-1]
        for i, obj in enumerate(object_ids):
            summary = summaries[:, i].float()
            # running sums of summaries and areas; the object transformer divides them
            self.object_memory[obj] = summary if obj not in self.object_memory else self.object_memory[obj] + summary
        values = {obj: mask_value[:, i].flatten(2).float() for i, obj in enumerate(object_ids)}
        self.working.add(
            key.flatten(2).float(),
            shrinkage.flatten(2).float(),
            selection.flatten(2).float(),
            values,
            permanent_first=True,
        )
        for bucket_id, bucket in list(self.working.buckets.items()):
            if self.use_long_term:
                if bucket.non_permanent_size >= self.max_work_frames * self.tokens_per_frame:
                    self._prune_long_term(bucket_id)
                    self._consolidate(bucket_id)
            elif self.max_work_frames >= 0:
                excess = bucket.non_permanent_size - self.max_work_frames * self.tokens_per_frame
                if excess > 0:  # FIFO: drop the oldest non-permanent tokens
                    bucket.drop_non_permanent_range(0, excess)

    def _prune_long_term(self, bucket_id: int) -> None:
        """Keeps the most used long-term tokens when the store is close to `max_num_tokens`."""
        lt = self.config.long_term
        bucket = self.long_term.buckets.get(bucket_id)
        if bucket is None or bucket.size < lt.max_num_tokens - lt.num_prototypes:
            return
        keep = lt.max_num_tokens - lt.num_prototypes - lt.buffer_tokens
        if bucket.use_count is None:  # usage not counted: keep the newest
            bucket.drop_non_permanent_range(0, bucket.size - keep)
            return
        _, survivors = torch.topk(bucket.usage(), k=keep, dim=-1)
        bucket.select_non_permanent(survivors)

    def _consolidate(self, bucket_id: int) -> None:
        """Turns the oldest working tokens (all but the newest `min_mem_frames - 1` frames) into prototypes."""
        bucket = self.working.buckets[bucket_id]
        assert bucket.selection is not None and self.tokens_per_frame is not None
        p = bucket.permanent
        end = bucket.size - self.min_work_frames * self.tokens_per_frame
        if end <= p:
            return
        cand_key = bucket.key[..., p:end]
        cand_shrinkage = bucket.shrinkage[..., p:end]
        cand_selection = bucket.selection[..., p:end]
        cand_usage = bucket.usage()[:, : end - p]
        num_prototypes = min(self.config.long_term.num_prototypes, end - p)
        _, picked = torch.topk(cand_usage, k=num_prototypes, dim=-1)  # B P, highest usage first
        index = picked.unsqueeze(1)
        proto_key = torch.gather(cand_key, -1, index.expand(-1, cand_key.shape[1], -1))
        proto_selection = torch.gather(cand_selection, -1, index.expand(-1, cand_selection.shape[1], -1))
        # candidates play the memory, prototypes the query: B M_cand P, full softmax over candidates
        affinity = softmax_affinity(similarity(cand_key, cand_shrinkage, proto_key, proto_selection))
        proto_values = {obj: readout(affinity, v[..., p:end]) for obj, v in bucket.values.items()}
        proto_shrinkage = readout(affinity, cand_shrinkage)
        bucket.drop_non_permanent_range(0, end - p)
        self.long_term.add(proto_key, proto_shrinkage, None, proto_values, permanent_first=False, bucket_id=bucket_id)
        self.consolidations += 1
