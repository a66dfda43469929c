"""A Lightning callback that runs the LR range test when ``fit`` starts.

:class:`RangeTestCallback` follows Lightning's own ``LearningRateFinder``: at
``on_fit_start`` it runs :func:`cyclr.torch.range_test` on the module's
``training_step`` and the trainer's train dataloader, restores the model, optimizer,
``GradScaler`` and random-number generators exactly, then sets the suggested LR into
the optimizer (and the module's ``lr`` / ``learning_rate`` hyper-parameter) and,
optionally, installs a schedule built from the curve for the rest of the run. With
``confirm=True`` the suggestion is first confirmed on the first validation batches
(:mod:`cyclr.rangetest.confirm`), and the LR and schedule come from the confirmation. The
result is saved as JSON beside the checkpoints and kept in the callback's checkpoint
state, so a resumed run does not test again.

Import it explicitly (``import cyclr.lightning``); it needs ``pip install
'cyclr[lightning]'``.

References:
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017,
    https://arxiv.org/abs/1506.01186
"""

from ..errors import require

require("lightning", "lightning")
require("torch", "lightning")

from .callback import SCHEDULES, RangeTestCallback  # noqa: E402

__all__ = ["SCHEDULES", "RangeTestCallback"]
