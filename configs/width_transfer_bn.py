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
``width_transfer.grid_brackets`` says whether every width's best rate fell inside it.
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
