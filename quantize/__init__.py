"""quantize layer of edge-screen (installed as edge_screen.quantize).

Importing the package stays torch-free (the CLI registers its sub-commands from here); the
defaults that the exporters and the CLI share live here for that reason.
"""

# INT8: leading backbone convolutions kept in float by every exporter (`--float-convs`). The stem
# and the first depthwise convolution of MobileNet-style nets; see onnx_export.leading_convs.
DEFAULT_FLOAT_CONVS = 2

# INT8 activation-range calibrations (`--int8-calibration`; ort_quant.Calibration) and the default
# percentile of |x| kept by `percentile`.
CALIBRATIONS = ("minmax", "percentile", "entropy")
DEFAULT_PERCENTILE = 99.999
