"""quantize layer of edge-screen (installed as edge_screen.quantize).

Importing the package stays torch-free (the CLI registers its sub-commands from here); the
defaults that the exporters and the CLI share live here for that reason.
"""

from __future__ import annotations


# INT8: leading backbone convolutions kept in float by every exporter (`--float-convs`). The stem
# and the first depthwise convolution of MobileNet-style nets; see onnx_export.leading_convs.
DEFAULT_FLOAT_CONVS = 2

# INT8 activation-range calibrations (`--int8-calibration`; ort_quant.Calibration) and the default
# percentile of |x| kept by `percentile`.
CALIBRATIONS = ("minmax", "percentile", "entropy")
DEFAULT_PERCENTILE = 99.999
#: The INT8 weight grids of ``export``/``requantize --int8-weights``: name -> (bits, pair_safe). "8-pair"
#: is 8-bit with per-channel scales that keep every same-sign input pair of a 1x1 conv within 128 steps
#: (:mod:`edge_screen.quantize.pair_safe`): as safe as 7-bit on CPUs without VNNI, with a finer step.
WEIGHT_GRIDS = {"7": (7, False), "8": (8, False), "8-pair": (8, True)}
DEFAULT_WEIGHT_GRID = "8-pair"


def weight_grid(value: int | str | None) -> tuple[int, bool]:
    """``(bits, pair_safe)`` of a weight grid given as 7, 8, "7", "8" or "8-pair" (None: the default)."""
    from edge_screen.errors import UsageError

    key = DEFAULT_WEIGHT_GRID if value is None else str(value)
    if key not in WEIGHT_GRIDS:
        raise UsageError(f"--int8-weights must be one of {', '.join(WEIGHT_GRIDS)}, got {value!r}")
    return WEIGHT_GRIDS[key]
