"""python -m experiments.run --config configs/width_transfer_bn.py --workdir runs/width_transfer_bn

The width_transfer study's BatchNorm variant (research/studies/width_transfer/config.py has the
design, the selection rule and the margins, unchanged here): the same 3-hidden-layer ReLU MLP
with BatchNorm between every hidden linear map and its activation, under SP and muP. muP's rules
(Tensor Programs V, Table 3) treat BN's gamma and beta as vector-like parameters (their rate
scales as the biases'); the paper derives muP for networks without BN and makes no claim for
BN at this batch size, so this config asks the same questions of a net the theory does not cover
and reports what it finds.

Sizing: BN roughly doubles a step's cost at these widths and 1024 alone costs more than 64..512
together, so the widths stop at 512 (4 octaves of width are 3 here) and a default run stays near
the plain variant's time. The grid is the plain variant's shifted up by two octaves (2^-6 .. 2^1),
chosen before the first run because BN tolerates larger rates (no pilot); the check
``width_transfer.<arm>.grid_brackets`` says whether every width's best rate fell inside it.

Measured, the first run (8 seeds, 602 s wall on 2 cores shared with two other studies, 373 s of
CPU): no run diverged anywhere on the grid; the best rate sat inside it at every width (check
holds). muP with BN: best log2 lr -1 at every width, D = 0 [0, 1], ``mup_bn.lr_transfers`` holds;
wider is better at 2^-1 (0.219 -> 0.168 from 64 to 512; weakest pair 128 - 64, -0.021 [-0.046,
+0.004]), holds. SP with BN: -1, -1, -2, -2, D = 1 [1, 1], ``sp_bn.lr_shifts`` does not hold
(a one-octave shift, inside the margin). The coordinate checks both fail, and the reason is BN:
every hidden layer's size and change is flat in width under muP (|slope| <= 0.013), but the logits'
per-step change falls as width^-0.26 [-0.29, -0.24] (BN normalizes the last hidden layer, so the
output layer's muP rate 1/fan_in is no longer balanced by an input whose update grows with width),
and under SP it grows as width^+0.32, not the +1 of the plain net (SP's hidden-layer changes fall
as width^-0.34..-0.48 under BN). Tensor Programs V derives muP for nets without BN; this is the
interaction the issue asked to report, not a failure of the plain study.
"""

from research.studies.width_transfer.config import *  # noqa: F401,F403  (the study's constants)
from research.studies.width_transfer.config import get_config as _plain_config

WIDTHS_BN = (64, 128, 256, 512)
LOG2_LRS_BN = tuple(range(-6, 2))


def get_config():
    c = _plain_config()
    c.params.widths = WIDTHS_BN
    c.params.log2_lrs = LOG2_LRS_BN
    c.arms = {"sp_bn": {"model": {"parametrization": "sp", "base_width": 0, "batchnorm": True}},
              "mup_bn": {"model": {"parametrization": "mup", "base_width": WIDTHS_BN[0], "batchnorm": True}}}
    return c
