"""Choices and defaults of the model commands that the torch modules use and the command line
(``model/cli.py``, which must not load torch) shows: each declared once, here, without torch."""

from __future__ import annotations

# EmotionClassifier's precisions (``--precision``); "auto" picks by device (model.classifier)
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
# the FER2013 split read from a root folder, CSV or pack when none is asked for (model.data)
DEFAULT_SPLIT = "val"
# training faces whose activations set the int8 ranges (``model export --calibrate``)
CALIBRATION_FACES = 512
