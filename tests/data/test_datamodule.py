from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from jsonargparse import ArgumentParser

from s3.data import VOSDataModule
from s3.data.curriculum import CurriculumSampler
from s3.data.errors import DataRootNotFoundError
from tests.data.conftest import TINY_SYNTHETIC

SYNTHETIC_OPTIONS = {k: TINY_SYNTHETIC[k] for k in ("seed", "num_train", "num_val", "num_frames", "height", "width")}


def _module(root: Path, **kwargs) -> VOSDataModule:
    options = dict(
        data_root=str(root),
        synthetic=True,
        synthetic_options=SYNTHETIC_OPTIONS,
        crop_size=32,
        num_frames=4,
        num_objects=3,
        batch_size=2,
        num_workers=0,
        index_cache_dir=str(root.parent / "index-cache"),
    )
    parser = ArgumentParser()
    parser.add_class_arguments(VOSDataModule, "data")
    config = parser.parse_object({"data": {**options, **kwargs}})
    return parser.instantiate(config).data


def test_synthetic_datamodule_from_yaml_like_config(tmp_path: Path) -> None:
    module = _module(tmp_path / "synthetic")
    module.prepare_data()
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["images"].shape == (2, 4, 3, 32, 32)
    assert batch["masks"].shape == (2, 4, 3, 32, 32)
    assert batch["selector"].shape == (2, 3)
    assert all(name.startswith("davis/synth-train-") for name in batch["names"]), "val videos never train"
    video = next(iter(module.val_dataloader()))
    assert video["name"].startswith("synth-val-")
    assert video["images"].shape == (10, 3, 48, 64) and video["original_size"] == (48, 64)
    assert video["masks"].dtype == torch.int64 and video["annotated"].all()
    assert video["first_appearance"][1] == 0


def test_missing_root_names_path_and_demo(tmp_path: Path) -> None:
    module = VOSDataModule(data_root=str(tmp_path / "nowhere"))
    with pytest.raises(DataRootNotFoundError, match=r"nowhere.*make demo"):
        module.setup("fit")


class _Recorder(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[int] = []

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return (self.weight - batch["images"].mean()) ** 2

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_keeps_the_curriculum_sampler(tmp_path: Path) -> None:
    module = _module(tmp_path / "synthetic", curriculum={"values": [5, 10], "phase_ends": [0.5, 1.0]})
    trainer = pl.Trainer(
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(_Recorder(), datamodule=module)
    sampler = trainer.train_dataloader.sampler
    assert isinstance(sampler, CurriculumSampler)
    assert sampler.total_steps == 4 and module.max_skip_at(1) == 5 and module.max_skip_at(2) == 10


def test_shipped_configs_parse(tmp_path: Path) -> None:
    configs = Path(__file__).resolve().parents[2] / "configs" / "data"
    parser = ArgumentParser()
    parser.add_class_arguments(VOSDataModule, "init_args")
    for path in sorted(configs.glob("*.yaml")):
        content = yaml.safe_load(path.read_text())
        if isinstance(content, list):  # a training mix: the value of init_args.train_datasets
            init_args = {"train_datasets": content}
        else:
            assert content["data"]["class_path"] == "s3.data.VOSDataModule"
            init_args = content["data"]["init_args"]
        parsed = parser.parse_object({"init_args": init_args})
        parser.instantiate(parsed)
