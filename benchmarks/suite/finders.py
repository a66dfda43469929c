"""LR finders under test: cyclr and the peers, each used as its documentation shows.

Every finder gets the same task model (same seed), the same optimizer class and
hyper-parameters, the same shuffled DataLoader and the same criterion, and the sweep
``start 1e-7 -> end 10`` over ``100`` iterations (fast.ai's defaults, which every peer
accepts). cyclr runs :func:`cyclr.torch.range_test` at its own defaults; the
``cyclr-confirm`` family runs it with ``held_out=`` on a validation split
(:mod:`benchmarks.suite.finders_confirm`).

A finder *family* runs one range test and returns one or more named suggestions
(``fastai`` gives valley, steep, minimum and slide from a single test). A method that
cannot run (import error, exception, ``None`` suggestion) is reported with the reason.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import logging
import math
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from .tasks import ScaledLoss, Task

START_LR = 1e-7
END_LR = 10.0
NUM_ITER = 100

PEER_VERSIONS = {
    # family: (import name, distribution name, pinned version)
    "torch-lr-finder": ("torch_lr_finder", "torch-lr-finder", "0.2.2"),
    "fastai": ("fastai.learner", "fastai", "2.8.12"),
    "lightning": ("lightning.pytorch", "lightning", "2.6.6"),
    "ignite": ("ignite.handlers", "pytorch-ignite", "0.5.5"),
}


@dataclass
class FinderRecord:
    """One range test and the suggestions read from it.

    Attributes:
        family: ``"cyclr"``, ``"cyclr-confirm"``, ``"torch-lr-finder"``, ``"fastai"``,
            ``"lightning"``, ``"ignite"`` or a prototype rule family.
        suggestions: method name -> suggested LR (``None`` when the method gave none).
        errors: method name -> why it gave none.
        steps: optimizer steps the range test ran.
        wall_s: wall time of the range test and suggestion.
        lrs: the recorded LR per step.
        losses: the recorded (raw or, if the finder keeps only that, smoothed) loss per step.
        curve_kind: ``"raw"`` or ``"smoothed"`` for ``losses``.
        confirmation: a confirmed range test's confirmation as its result file writes
            it (candidates, scores, held-out losses), so other readings of the same
            evidence can be scored without training again; ``None`` otherwise.
    """

    family: str
    suggestions: dict[str, float | None]
    errors: dict[str, str] = field(default_factory=dict)
    steps: int = 0
    wall_s: float = 0.0
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    curve_kind: str = "raw"
    confirmation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "family": self.family,
            "suggestions": self.suggestions,
            "errors": self.errors,
            "steps": self.steps,
            "wall_s": self.wall_s,
            "lrs": self.lrs,
            "losses": [x if math.isfinite(x) else None for x in self.losses],
            "curve_kind": self.curve_kind,
            **({} if self.confirmation is None else {"confirmation": self.confirmation}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinderRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["family"],
            dict(d["suggestions"]),
            dict(d.get("errors", {})),
            int(d.get("steps", 0)),
            float(d.get("wall_s", 0.0)),
            list(d.get("lrs", [])),
            [math.nan if x is None else float(x) for x in d.get("losses", [])],
            d.get("curve_kind", "raw"),
            d.get("confirmation"),
        )


def _criterion(task: Task, scale: float, shift: float) -> Callable[..., torch.Tensor]:
    if scale == 1.0 and shift == 0.0:
        return task.loss
    return ScaledLoss(task.loss, scale, shift)


def _finite_lr(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) and v > 0 else None


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence peers' prints, progress bars, logging and warnings."""
    out = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(out),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


# --------------------------------------------------------------------------------------
# cyclr


def cyclr_methods() -> tuple[str, ...]:
    """cyclr's named suggestion methods (``cyclr.rangetest.suggest.METHODS``)."""
    from cyclr.rangetest import suggest as _suggest

    return tuple(_suggest.METHODS)


def run_cyclr(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """cyclr's range test at its defaults; every method read from the one result."""
    from cyclr.rangetest import suggest as _suggest
    from cyclr.torch import range_test

    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), START_LR)
    t0 = time.perf_counter()
    result = range_test(  # the curve alone: its readings are scored side by side
        model, opt, task.loader(seed), _criterion(task, scale, shift), progress=False,
        held_out=None,
    )  # fmt: skip
    suggestions: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in ("default", *_suggest.METHODS):
        key = f"cyclr-{name}"
        try:
            s = result.suggest(None if name == "default" else name)
            suggestions[key] = float(s.lr)
        except Exception as exc:
            suggestions[key] = None
            errors[key] = f"{type(exc).__name__}: {exc}"
    try:
        base, peak = result.clr_bounds()
        suggestions["cyclr-clr-base"] = float(base)
        suggestions["cyclr-clr-max"] = float(peak)
    except Exception as exc:
        suggestions["cyclr-clr-base"] = suggestions["cyclr-clr-max"] = None
        errors["cyclr-clr-bounds"] = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - t0
    # Every test it ran: a curve with no clear fall is measured again, 3x longer.
    steps = int(result.settings.get("steps_run_total", len(result.losses)))
    return FinderRecord(
        "cyclr",
        suggestions,
        errors,
        steps,
        wall,
        [float(x) for x in result.lrs[:, 0]],
        [float(x) for x in result.losses],
        "raw",
    )


# --------------------------------------------------------------------------------------
# peers


def run_torch_lr_finder(
    task: Task, seed: int, scale: float = 1.0, shift: float = 0.0
) -> FinderRecord:
    """torch-lr-finder 0.2.2: ``range_test`` then ``plot(suggest_lr=True)`` -> (ax, lr)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch_lr_finder import LRFinder

    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), START_LR)
    t0 = time.perf_counter()
    with _quiet():
        finder = LRFinder(model, opt, _criterion(task, scale, shift), device="cpu")
        finder.range_test(task.loader(seed), start_lr=START_LR, end_lr=END_LR, num_iter=NUM_ITER)
        fig, ax = plt.subplots()
        try:
            _, lr = finder.plot(ax=ax, suggest_lr=True)
        finally:
            plt.close(fig)
        finder.reset()
    wall = time.perf_counter() - t0
    hist = finder.history
    return FinderRecord(
        "torch-lr-finder",
        {"torch-lr-finder": _finite_lr(lr)},
        {} if _finite_lr(lr) else {"torch-lr-finder": "no suggestion returned"},
        len(hist["lr"]),
        wall,
        [float(x) for x in hist["lr"]],
        [float(x) for x in hist["loss"]],
        "smoothed",
    )


FASTAI_METHODS = ("valley", "steep", "minimum", "slide")


def run_fastai(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """fastai 2.8.12: ``Learner.lr_find(suggest_funcs=(valley, steep, minimum, slide))``.

    The Learner wraps the task's torch optimizer with ``OptimWrapper`` and plain torch
    DataLoaders in ``DataLoaders`` (fastai's "pure PyTorch" recipe), so no torchvision
    import is needed.
    """
    from fastai.callback.schedule import minimum, slide, steep, valley
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.optimizer import OptimWrapper

    cls, kwargs = task.optimizer_factory()
    model = task.make_model(seed)
    dls = DataLoaders(task.loader(seed), task.loader(seed + 1))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        learn = Learner(
            dls,
            model,
            loss_func=_criterion(task, scale, shift),
            opt_func=partial(OptimWrapper, opt=cls, **kwargs),
            path=tmp,
        )
        with learn.no_bar():
            res = learn.lr_find(
                start_lr=START_LR,
                end_lr=END_LR,
                num_it=NUM_ITER,
                suggest_funcs=(valley, steep, minimum, slide),
                show_plot=False,
            )
    wall = time.perf_counter() - t0
    suggestions: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name in FASTAI_METHODS:
        v = _finite_lr(getattr(res, name, None))
        suggestions[f"fastai-{name}"] = v
        if v is None:
            errors[f"fastai-{name}"] = "no suggestion returned"
    rec = learn.recorder
    return FinderRecord(
        "fastai",
        suggestions,
        errors,
        len(rec.lrs),
        wall,
        [float(x) for x in rec.lrs],
        [float(x) for x in rec.losses],
        "smoothed",
    )


def run_lightning(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """Lightning 2.6.6: ``Tuner(trainer).lr_find(module, ...)`` then ``.suggestion()``."""
    import lightning.pytorch as pl
    from lightning.pytorch.tuner import Tuner

    cls, kwargs = task.optimizer_factory()
    criterion = _criterion(task, scale, shift)

    class Module(pl.LightningModule):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net
            self.lr = START_LR

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return criterion(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return cls(self.parameters(), lr=self.lr, **kwargs)

    module = Module(task.make_model(seed))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
        )
        finder = Tuner(trainer).lr_find(
            module,
            train_dataloaders=task.loader(seed),
            min_lr=START_LR,
            max_lr=END_LR,
            num_training=NUM_ITER,
        )
        lr = finder.suggestion() if finder is not None else None
    wall = time.perf_counter() - t0
    res = finder.results if finder is not None else {"lr": [], "loss": []}
    return FinderRecord(
        "lightning",
        {"lightning": _finite_lr(lr)},
        {} if _finite_lr(lr) else {"lightning": "suggestion() returned None"},
        len(res["lr"]),
        wall,
        [float(x) for x in res["lr"]],
        [float(x) for x in res["loss"]],
        "smoothed",
    )


def run_ignite(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """ignite 0.5.5: ``FastaiLRFinder().attach(trainer, to_save, ...)`` then ``lr_suggestion()``."""
    from ignite.engine import create_supervised_trainer
    from ignite.handlers import FastaiLRFinder

    model = task.make_model(seed)
    opt = task.make_optimizer(model.parameters(), START_LR)
    trainer = create_supervised_trainer(model, opt, _criterion(task, scale, shift), device="cpu")
    finder = FastaiLRFinder()
    to_save = {"model": model, "optimizer": opt}
    t0 = time.perf_counter()
    error = ""
    lr: float | None = None
    with _quiet():
        with finder.attach(
            trainer, to_save=to_save, start_lr=START_LR, end_lr=END_LR, num_iter=NUM_ITER
        ) as trainer_with_finder:
            trainer_with_finder.run(task.loader(seed))
        try:
            lr = _finite_lr(finder.lr_suggestion())
        except RuntimeError as exc:
            error = f"RuntimeError: {exc}"
    wall = time.perf_counter() - t0
    hist = finder.get_results()
    if lr is None and not error:
        error = "no suggestion returned"
    return FinderRecord(
        "ignite",
        {"ignite": lr},
        {"ignite": error} if error else {},
        len(hist["lr"]),
        wall,
        [float(x) for x in hist["lr"]],
        [float(x) for x in hist["loss"]],
        "smoothed",
    )


def run_cyclr_confirm(
    task: Task, seed: int, scale: float = 1.0, shift: float = 0.0
) -> FinderRecord:
    """cyclr's one-call path, ``range_test(..., held_out=...)`` (see :mod:`.finders_confirm`)."""
    from .finders_confirm import run_cyclr_confirm as run

    return run(task, seed, scale, shift)


def run_cyclr_auto(task: Task, seed: int, scale: float = 1.0, shift: float = 0.0) -> FinderRecord:
    """cyclr's one call without a validation split, ``held_out="auto"``."""
    from .finders_confirm import run_cyclr_auto as run

    return run(task, seed, scale, shift)


FAMILIES: dict[str, Callable[..., FinderRecord]] = {
    "cyclr": run_cyclr,
    "cyclr-confirm": run_cyclr_confirm,
    "cyclr-auto": run_cyclr_auto,
    "torch-lr-finder": run_torch_lr_finder,
    "fastai": run_fastai,
    "lightning": run_lightning,
    "ignite": run_ignite,
}

FAMILY_METHODS: dict[str, tuple[str, ...]] = {
    "cyclr-confirm": ("cyclr-confirmed", "cyclr-confirmed-window"),
    "cyclr-auto": ("cyclr-auto", "cyclr-auto-window"),
    "torch-lr-finder": ("torch-lr-finder",),
    "fastai": tuple(f"fastai-{m}" for m in FASTAI_METHODS),
    "lightning": ("lightning",),
    "ignite": ("ignite",),
}


def family_methods(family: str) -> tuple[str, ...]:
    """The method names a family reports (cyclr's are read from the installed package)."""
    if family == "cyclr":
        return ("cyclr-default", *(f"cyclr-{m}" for m in cyclr_methods()))
    return FAMILY_METHODS[family]


def check_family(family: str) -> str | None:
    """Why a family cannot run here (import failure or version mismatch), else ``None``."""
    try:
        if family == "cyclr":
            import cyclr.torch  # noqa: F401

            return None
        if family in ("cyclr-confirm", "cyclr-auto"):
            from .finders_confirm import check

            return check()
        module, dist, wanted = PEER_VERSIONS[family]
        importlib.import_module(module)
        version = importlib.metadata.version(dist)
        if version != wanted:
            return f"{dist} {version} installed, {wanted} required"
    except Exception as exc:
        return f"import failed: {type(exc).__name__}: {exc}"
    return None


def run_family(
    family: str, task: Task, seed: int, scale: float = 1.0, shift: float = 0.0
) -> FinderRecord:
    """Run one finder family; exceptions become per-method failures with the reason."""
    try:
        return FAMILIES[family](task, seed, scale, shift)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}".strip()
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {tb[-1].filename.split('site-packages/')[-1]}:{tb[-1].lineno})" if tb else ""
        methods = family_methods(family) if family != "cyclr" or _has_cyclr() else ("cyclr",)
        return FinderRecord(
            family,
            {m: None for m in methods},
            {m: reason[:300] + where for m in methods},
        )


def _has_cyclr() -> bool:
    try:
        cyclr_methods()
    except Exception:
        return False
    return True


def log_mean(values: list[float]) -> float:
    """Geometric mean (used for LR summaries)."""
    return float(np.exp(np.mean(np.log(values))))
