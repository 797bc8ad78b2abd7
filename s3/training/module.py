"""`S3Module`: the LightningModule that trains and validates a VOS network on clips and full videos."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from s3.data.batch import ClipBatch, VideoSample
from s3.data.eval_dataset import resize_to_test_size
from s3.inference.predictor import VideoPredictor
from s3.inference.propagation import propagate_video
from s3.metrics.vos_metric import VOSMetric
from s3.model.factory import build_network, load_pretrained
from s3.model.network import VOSNetwork
from s3.model.network_config import network_components
from s3.run.checkpoints import read_checkpoint_metadata
from s3.run.errors import NetworkNotRecordedError, RunConfigError
from s3.run.nonfinite import NonFiniteGuard
from s3.training.eval_mode import silence_lightning_eval_mode_warning, unexpected_eval_modules
from s3.training.evaluation import (
    EvaluationOptions,
    copy_given_masks,
    dataset_config,
    dataset_test_size,
    output_folder,
    split_label,
    writer_benchmark,
)
from s3.training.legacy_checkpoint import is_legacy, migrated_hyperparameters
from s3.training.losses import LossComputer, LossConfig
from s3.training.optim import LRSchedulerCallable, OptimizerCallable, build_optimizer
from s3.training.python_arguments import UNRECORDED_NETWORK, python_hyperparameters
from s3.training.unroll import unroll_clip


class S3Module(pl.LightningModule):
    """Trains the network on clips (Cutie's unroll and losses) and validates it on full videos.

    Args:
        preset: the network's Table 3 row (`s3 ablations` lists them). In a config, `--model.preset NAME` sets
            `network` to `configs/model/NAME.yaml` at that point of the command line (`s3.run.preset_args`); the
            name also labels the run and is checked against `--ckpt_path`.
        size: network size `base`, `small` or the CPU demo size `tiny` (`configs/model/size/`), applied like
            `preset`.
        network: the network, built by the CLI from its `class_path` / `init_args` tree (`--print_config` shows
            every argument; `--model.network.init_args.pixel_encoder.init_args.num_extra_extractors 0` sets one).
            None: `build_network(preset, size)`. From Python, a network of `build_network(...)` is recorded by the
            tree it was built from, so its checkpoints reload it; one built otherwise is not, and loading its
            checkpoint asks for it (`load_from_checkpoint(path, network=...)`).
        weights: optional weights to start from (official Cutie/S3 file, Lightning checkpoint or export).
        vit_weights: Depth-Anything V1 or DINOv2 ViT-B/14 weights for the ViT presets.
        num_ref_frames: memory frames per prediction during training (3).
        deep_update_prob: probability of the mask encoder's deep sensory update per step (0.2).
        num_points / oversample_ratio / importance_sample_ratio: point supervision (12544 / 3 / 0.75).
        sensory_aux_weight / query_aux_weight: aux loss weights (0.01 each).
        optimizer: the optimizer class and its arguments (`class_path: torch.optim.AdamW`, `init_args: {lr,
            weight_decay}`); None: AdamW with lr 1e-4 and weight decay 1e-3. It receives three parameter groups
            (see `s3.training.optim.parameter_groups`). From Python: `functools.partial(torch.optim.AdamW, lr=...)`
            (recorded in checkpoints as the tree).
        lr_scheduler: the schedule, stepped once per optimizer step (e.g. `torch.optim.lr_scheduler.MultiStepLR`
            with `milestones` in steps); None: constant lr.
        backbone_lr_ratio: lr multiplier for parameters under `pixel_encoder.` (0.1).
        embed_weight_decay: weight decay of the query embeddings (0).
        mixed_precision_eps: `eps` of optimizers that have one when the trainer runs in mixed precision (Cutie:
            1e-6, as 1e-8 underflows in half precision); in full precision the optimizer's own `eps` is kept.
        evaluation: how validate / test / predict run the inference engine (memory policy, test size, outputs).
        max_bad_steps: training steps with a non-finite loss or gradient norm whose update is dropped (with a
            warning) before the run stops; 0 stops at the first (see `s3.run.nonfinite.NonFiniteGuard`).
    """

    def __init__(
        self,
        preset: str = "cutie",
        size: str = "base",
        network: VOSNetwork | None = None,
        weights: str | None = None,
        vit_weights: str | None = None,
        num_ref_frames: int = 3,
        deep_update_prob: float = 0.2,
        num_points: int = 12544,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        sensory_aux_weight: float = 0.01,
        query_aux_weight: float = 0.01,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        backbone_lr_ratio: float = 0.1,
        embed_weight_decay: float = 0.0,
        mixed_precision_eps: float = 1e-6,
        evaluation: EvaluationOptions | None = None,
        max_bad_steps: int = 0,
    ) -> None:
        super().__init__()
        with warnings.catch_warnings():  # a network object is recorded as its tree just below, not as a module
            warnings.filterwarnings("ignore", message="Attribute 'network' is an instance of `nn.Module`")
            self.save_hyperparameters()
        # Objects given from Python are recorded as the CLI records its config (`s3.training.python_arguments`).
        described = python_hyperparameters(self.hparams)
        if described:
            self.hparams.update(described)
            # Lightning's initial copy (what loggers record) would keep a deep copy of the network object otherwise.
            self._hparams_initial = copy.deepcopy(self._hparams)
        if network is None:
            network = build_network(preset, size)
        network.preset, network.components, network.size = preset, network_components(network), size
        self.network = load_pretrained(network, weights=weights, vit_weights=vit_weights)
        self.losses = LossComputer(
            LossConfig(num_points, oversample_ratio, importance_sample_ratio, sensory_aux_weight, query_aux_weight)
        )
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.evaluation = evaluation or EvaluationOptions()
        self._metrics: dict[int, tuple[str, VOSMetric, VOSMetric]] = {}
        self._predictors: dict[str, VideoPredictor] = {}
        self._writers: dict[int, Any] = {}
        self.nonfinite_guard = NonFiniteGuard(max_bad_steps)

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> S3Module:  # type: ignore[override]
        """Lightning's `load_from_checkpoint`, which also reads checkpoints written before the network and the
        optimizer became injected arguments (`s3.training.legacy_checkpoint`): their network overrides, AdamW
        settings and milestones become today's `class_path` / `init_args` trees, built by Lightning as for a
        checkpoint of `s3 fit`. Keyword arguments given here still win.

        The loaded module keeps the checkpoint's description of what was built (`recorded_hyperparameters`):
        objects built from a tree would otherwise be recorded as None, and a checkpoint saved after this one
        (`trainer.save_checkpoint`, a fit that goes on from here) would reload a default network.

        A checkpoint that does not record its network (given to `__init__` as an object it could not describe,
        `s3.training.python_arguments`) raises `NetworkNotRecordedError` unless `network=` is given, rather than
        building the default network in its place.
        """
        recorded: dict[str, Any] = {}
        migrated: dict[str, Any] = {}
        if isinstance(checkpoint_path, str | os.PathLike) and os.path.isfile(checkpoint_path):  # URLs, streams: as is
            recorded = read_checkpoint_metadata(checkpoint_path)["hyper_parameters"]
            if is_legacy(recorded):
                recorded = migrated = migrated_hyperparameters(recorded)
        needs_network = "network" in recorded and recorded["network"] is None and kwargs.get("network") is None
        if needs_network and UNRECORDED_NETWORK in recorded:
            raise NetworkNotRecordedError(unrecorded_network_message(checkpoint_path, recorded))
        try:
            # A copy: jsonargparse turns nested dicts of what it parses into Namespaces in place.
            module = super().load_from_checkpoint(checkpoint_path, *args, **{**copy.deepcopy(migrated), **kwargs})
        except RuntimeError as error:
            # Saved before networks given from Python were recorded: the default network does not fit its weights.
            if needs_network and str(error).startswith("Error(s) in loading state_dict"):
                raise NetworkNotRecordedError(unrecorded_network_message(checkpoint_path, recorded)) from None
            raise
        taken = recorded_hyperparameters(recorded, module.hparams, given=kwargs)
        module.hparams.update(taken)
        if "network" in taken and UNRECORDED_NETWORK not in recorded:  # a network built from the recorded tree
            module.hparams.pop(UNRECORDED_NETWORK, None)
        return module

    def configure_callbacks(self) -> list[pl.Callback]:
        """Built-in callbacks: the non-finite guard protects every run, whatever its config lists.

        Lightning asks again at every `fit` / `validate` on the same trainer; once the guard is among the trainer's
        callbacks nothing is returned, so it is not re-attached (Lightning would log that it "overrides" itself).
        """
        trainer = self._trainer
        if trainer is not None and any(callback is self.nonfinite_guard for callback in trainer.callbacks):
            return []
        return [self.nonfinite_guard]

    def on_fit_start(self) -> None:
        silence_lightning_eval_mode_warning()  # before the fit loop's check; `on_train_start` warns instead

    def on_train_start(self) -> None:
        """Warns (once, rank 0) about modules left in eval mode other than those kept there on purpose
        (`s3.training.eval_mode`); Lightning's own warning, which counts those too, is silenced."""
        unexpected = unexpected_eval_modules(self)
        if unexpected and self.global_rank == 0:
            shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
            warnings.warn(
                f"{len(unexpected)} trainable module(s) are in eval mode at the start of training: {shown}",
                stacklevel=1,
            )

    # ----------------------------------------------------------------------------------------------- training
    def training_step(self, batch: ClipBatch, batch_idx: int) -> Tensor:
        losses = self.clip_losses(batch)
        self.nonfinite_guard.record_losses(losses)
        batch_size = batch["images"].shape[0]
        self.log("train/loss", losses["total_loss"], prog_bar=True, batch_size=batch_size)
        for name, value in losses.items():
            if name != "total_loss":
                self.log(f"train/{name}", value, batch_size=batch_size)
        return losses["total_loss"]

    def clip_losses(self, batch: ClipBatch) -> dict[str, Tensor]:
        """Unrolls the clip and returns every loss term (`total_loss` included)."""
        selector = batch["selector"].float()
        num_objects = selector.sum(dim=1).long()
        max_objects = max(int(num_objects.max()), 1)
        masks = batch["masks"][:, :, :max_objects].float()
        selector = selector[:, :max_objects]
        logits, aux = unroll_clip(
            self.network,
            batch["images"],
            masks,
            selector,
            num_ref_frames=self.hparams.num_ref_frames,
            deep_update_prob=self.hparams.deep_update_prob,
        )
        cls_gt = masks_to_index(masks)
        return self.losses(logits, aux, cls_gt, num_objects.tolist())

    # ------------------------------------------------------------------------------ validation / test / predict
    def _split_names(self, stage: str) -> list[tuple[str, str]]:
        """(dataset, split) of every evaluation loader of `stage`, identical on every rank."""
        datamodule = getattr(self.trainer, "datamodule", None)
        specs = getattr(datamodule, {"val": "val_specs", "test": "test_specs", "predict": "test_specs"}[stage], None)
        if specs:
            return [(spec.name, spec.split) for spec in specs]
        counts = self.trainer.num_val_batches if stage == "val" else self.trainer.num_test_batches
        return [(f"{stage}{i}", "val") for i in range(len(counts))]

    def _start_scoring(self, stage: str) -> None:
        self._predictors = {}
        self._metrics = {
            index: (split_label(name, split), VOSMetric(), VOSMetric())
            for index, (name, split) in enumerate(self._split_names(stage))
        }

    def on_validation_epoch_start(self) -> None:
        self._start_scoring("val")

    def on_test_epoch_start(self) -> None:
        self._start_scoring("test")

    def predictor(self, dataset: str | None) -> VideoPredictor:
        """The inference engine for a dataset (memory policy of `evaluation`), one per dataset."""
        key = dataset or "davis"
        if key not in self._predictors:
            self._predictors[key] = VideoPredictor(
                self.network, dataset_config(self.evaluation, key), fast_paths=self.evaluation.fast_paths
            )
        return self._predictors[key]

    def segment_video(self, video: VideoSample) -> Tensor:
        """T H W int64 index masks (original ids, native size) for an evaluation video, on the CPU.

        The frames are brought to the dataset's test size as the official evaluation reader does and the
        probabilities back to the native size before the argmax (`resize_to_test_size`, `propagate_video`).
        """
        size = dataset_test_size(self.evaluation, video.get("dataset") or "davis")
        return propagate_video(self.predictor(video.get("dataset")), resize_to_test_size(video, size))

    def validation_step(self, batch: VideoSample, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self._score_video(batch, dataloader_idx)

    def test_step(self, batch: VideoSample, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self._score_video(batch, dataloader_idx)

    def _score_video(self, video: VideoSample, dataloader_idx: int) -> Tensor:
        """Scores the model and the copy-first-frame baseline; returns the prediction (for overlay callbacks)."""
        _, model_metric, baseline_metric = self._metrics[dataloader_idx]
        void = video.get("void")
        prediction = self.segment_video(video)
        model_metric.update_from_sample(prediction, video, void=void)
        baseline_metric.update_from_sample(copy_given_masks(video), video, void=void)
        return prediction

    def on_validation_epoch_end(self) -> None:
        self._log_scores("val")

    def on_test_epoch_end(self) -> None:
        self._log_scores("test")

    def _log_scores(self, stage: str) -> None:
        """Every rank computes (the metrics gather their rows across ranks) and logs the same values."""
        for label, model_metric, baseline_metric in self._metrics.values():
            for prefix, metric in (
                (f"{stage}/{label}", model_metric),
                (f"{stage}/{label}/copy_first_frame", baseline_metric),
            ):
                for key, value in metric.compute().items():
                    self.log(f"{prefix}/{metric_key(key)}", value.float(), sync_dist=False)
                metric.reset()

    def on_predict_epoch_start(self) -> None:
        from s3.evaluation.writers import make_writer

        self._predictors = {}
        self._writers = {}
        for index, (name, split) in enumerate(self._split_names("predict")):
            benchmark = writer_benchmark(name, split)
            if benchmark == "burst" and self.evaluation.burst_json is None:
                raise RunConfigError(
                    "predict on BURST needs model.evaluation.burst_json (the first-frame annotation JSON)"
                )
            root = output_folder(self.evaluation, name, split)
            self._writers[index] = make_writer(benchmark, root, burst_json=self.evaluation.burst_json)

    def predict_step(self, batch: VideoSample, batch_idx: int, dataloader_idx: int = 0) -> None:
        writer = self._writers[dataloader_idx]
        name = batch["name"]
        if writer.is_done(name):  # resumed run: this video is already published
            return None
        prediction = self.segment_video(batch).numpy()
        frames = writer.begin_video(name, batch.get("frames_to_write", batch["frame_names"]))
        index = {stem: t for t, stem in enumerate(batch["frame_names"])}
        for frame in frames:
            writer.write_frame(name, frame, prediction[index[frame]])
        writer.finish_video(name)
        return None

    def on_predict_epoch_end(self) -> None:
        self.trainer.strategy.barrier()
        if self.trainer.is_global_zero:
            for writer in self._writers.values():
                writer.finalize()

    # ------------------------------------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        """The configured optimizer over the network's parameter groups; the schedule is stepped per iteration."""
        precision = str(self.trainer.precision) if self._trainer is not None else "32-true"
        optimizer = build_optimizer(
            self.network,
            self.optimizer,
            backbone_lr_ratio=self.hparams.backbone_lr_ratio,
            embed_weight_decay=self.hparams.embed_weight_decay,
            eps=None if precision in FULL_PRECISIONS else self.hparams.mixed_precision_eps,
        )
        if self.lr_scheduler is None:
            return {"optimizer": optimizer}
        scheduler = self.lr_scheduler(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


# Trainer precisions that keep the optimizer's own eps.
FULL_PRECISIONS = ("32-true", "32", "64-true")


def recorded_hyperparameters(
    recorded: Mapping[str, Any], hyperparameters: Mapping[str, Any], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The hyper-parameters a module loaded from a checkpoint takes back from it (`recorded`, today's form).

    Lightning's instantiator builds the module from the checkpoint's trees, and `__init__` then records the built
    network as None and the optimizer as a callable that a weights-only load refuses. The checkpoint's trees (and
    its `_instantiator`) describe the same objects and reload them: they are kept, except for the arguments given
    to `load_from_checkpoint` (the module's own record of those stays) and keys the module does not take.
    """
    return {
        key: value
        for key, value in recorded.items()
        if key not in given and (key in hyperparameters or key == "_instantiator")
    }


def unrecorded_network_message(checkpoint_path: Any, recorded: Mapping[str, Any]) -> str:
    """The one line for a checkpoint that does not record its network (given to `S3Module` as an object): marked
    so (`UNRECORDED_NETWORK`), or saved before such networks were marked and not fitting the default network."""
    given = recorded.get(UNRECORDED_NETWORK)
    if given:
        why = f"{given} given to S3Module as an object, not built by build_network"
    else:
        preset, size = recorded.get("preset", "cutie"), recorded.get("size", "base")
        why = f"its weights do not fit build_network({preset!r}, {size!r})"
    return (
        f"{checkpoint_path}: the checkpoint does not record its network ({why}); "
        "pass the network it trained: S3Module.load_from_checkpoint(path, network=...)"
    )


def metric_key(key: str) -> str:
    """`J&F` -> `JF`, `J-Recall` -> `J_Recall`: metric names that survive W&B, sweeps and shells unquoted."""
    return key.replace("&", "").replace("-", "_")


def masks_to_index(masks: Tensor) -> Tensor:
    """B T N H W one-hot object masks -> B T H W index masks (slot k -> k+1, background 0)."""
    ids = torch.arange(1, masks.shape[2] + 1, device=masks.device, dtype=masks.dtype).view(1, 1, -1, 1, 1)
    return (masks * ids).amax(dim=2).long()
