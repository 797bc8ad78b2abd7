"""validate / test / predict through the LightningModule: inference engine, DAVIS metrics, submission files."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from s3.data import VOSDataModule
from s3.data.datamodule import SyntheticOptions
from s3.training import S3Module
from s3.training.evaluation import (
    EvaluationOptions,
    benchmark_family,
    copy_given_masks,
    dataset_config,
    dataset_test_size,
    writer_benchmark,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    datamodule = VOSDataModule(
        data_root=str(root / "synthetic"),
        synthetic=True,
        synthetic_options=SyntheticOptions(seed=2, num_train=2, num_val=2, num_frames=6, height=48, width=64),
        crop_size=48,
        num_frames=3,
        batch_size=1,
        num_workers=0,
    )
    torch.manual_seed(0)
    module = S3Module(size="tiny", evaluation=EvaluationOptions(output_dir=str(root / "predictions")))
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    return root, datamodule, module, trainer


def test_validate_logs_model_and_baseline_scores(setup) -> None:
    _, datamodule, module, trainer = setup
    metrics = trainer.validate(module, datamodule=datamodule, verbose=False)[0]
    for key in ("val/davis/JF", "val/davis/J", "val/davis/F", "val/davis/J_Recall", "val/davis/copy_first_frame/JF"):
        assert key in metrics and 0.0 <= metrics[key] <= 1.0
    assert metrics["val/davis/JF"] == pytest.approx((metrics["val/davis/J"] + metrics["val/davis/F"]) / 2, abs=1e-6)


def test_predict_writes_every_frame_and_resumes(setup) -> None:
    root, datamodule, module, trainer = setup
    trainer.predict(module, datamodule=datamodule, return_predictions=False)
    folder = root / "predictions" / "davis-val"
    videos = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert videos == ["synth-val-0000", "synth-val-0001"]
    frames = sorted(p.name for p in (folder / videos[0]).iterdir())
    assert frames == [f"{t:05d}.png" for t in range(6)]
    stamp = (folder / videos[0] / "00003.png").stat().st_mtime_ns
    trainer.predict(module, datamodule=datamodule, return_predictions=False)  # a re-run skips finished videos
    assert (folder / videos[0] / "00003.png").stat().st_mtime_ns == stamp


def test_copy_baseline_and_benchmark_mapping() -> None:
    masks = torch.zeros(4, 2, 2, dtype=torch.int64)
    masks[0, 0, 0] = 1
    masks[2, 1, 1] = 5  # object 5 first appears on frame 2
    video = {
        "name": "v",
        "images": torch.zeros(4, 3, 2, 2),
        "masks": masks,
        "object_ids": [1, 5],
        "first_appearance": {1: 0, 5: 2},
    }
    copied = copy_given_masks(video)
    assert copied[:, 0, 0].tolist() == [1, 1, 1, 1] and copied[:, 1, 1].tolist() == [0, 0, 5, 5]
    assert benchmark_family("youtube2019") == "youtube-vos" and benchmark_family("davis2016") == "davis"
    assert writer_benchmark("davis", "test-dev") == "davis-testdev" and writer_benchmark("lvos", "test") == "lvos-test"
    options = EvaluationOptions(preset="cutie")
    config = dataset_config(options, "lvos")
    # the test size is the reader's resize (resize_to_test_size), not the predictor's internal one
    assert config.use_long_term and dataset_test_size(options, "lvos") == 480 and config.max_internal_size == -1
    options = EvaluationOptions(preset="cutie", size=600, datasets={"davis": {"mem_every": 3}})
    config = dataset_config(options, "davis")
    assert dataset_test_size(options, "davis") == 600 and config.mem_every == 3 and config.max_internal_size == -1
