"""A tiny LightningModule, its data and a quiet CPU trainer for the callback tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning
import torch

torch.set_num_threads(1)

N_FEATURES = 8
N_CLASSES = 3
BATCHES_PER_EPOCH = 8


VAL_BATCHES = 4


def make_loader(
    shuffle: bool = False, own_generator: bool = False
) -> torch.utils.data.DataLoader[Any]:
    """64 learnable samples in 8 batches (shuffled with their own generator if asked)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, N_FEATURES, generator=g)
    y = (x @ torch.randn(N_FEATURES, N_CLASSES, generator=g)).argmax(dim=1)
    dataset = torch.utils.data.TensorDataset(x, y)
    order = torch.Generator().manual_seed(5) if own_generator else None
    return torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=shuffle, generator=order)


def make_val_loader() -> torch.utils.data.DataLoader[Any]:
    """32 held-out samples of the same task in 4 batches (never trained on)."""
    g = torch.Generator().manual_seed(1)
    torch.randn(64, N_FEATURES, generator=g)  # the training inputs
    w = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    x = torch.randn(8 * VAL_BATCHES, N_FEATURES, generator=g)
    dataset = torch.utils.data.TensorDataset(x, (x @ w).argmax(dim=1))
    return torch.utils.data.DataLoader(dataset, batch_size=8)


class Module(lightning.LightningModule):
    """An MLP with dropout (RNG); records the LR of every training batch."""

    def __init__(self, lr: float = 0.01, scheduler: bool = False, manual: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(N_FEATURES, 32),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(32, N_CLASSES),
        )
        self.automatic_optimization = not manual
        self.seen: list[float] = []

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.seen.append(float(self.trainer.optimizers[0].param_groups[0]["lr"]))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)  # muted during the range test
        return loss

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        if not self.hparams.scheduler:
            return optimizer
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class ValModule(Module):
    """The module with a ``validation_step``, so the trainer validates."""

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("val_loss", loss)
        return loss


class DictModule(ValModule):
    """Its steps take ``{"x": ..., "y": ...}``: ``on_before_batch_transfer`` builds it."""

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        return {"x": x, "y": y}

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"])

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(self.net(batch["x"]), batch["y"])


def make_trainer(root: Path, callbacks: list[Any], **kwargs: Any) -> lightning.Trainer:
    options: dict[str, Any] = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=root,
    )
    options.update(kwargs)
    return lightning.Trainer(callbacks=callbacks, **options)


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Probe(lightning.Callback):
    """Placed after the range-test callback: what the run starts from."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] = {}
        self.optimizer_state: dict[str, Any] = {}

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: Any) -> None:
        self.weights = weights(pl_module)
        self.optimizer_state = trainer.optimizers[0].state_dict()
