"""Calibrate a scenario from a council's SSDA903 ("children looked after") extract.

The pipeline: read and validate the Episodes and Header tables (:mod:`.readers`), clean them as
the public demand models do (:mod:`.cleaning`), map placements to the model's provision types
and needs (:mod:`.mapping`), estimate demand (:mod:`.estimate`, :mod:`.pipeline`), write a
commented scenario (:mod:`.writer`) and a report (:mod:`.report`). :mod:`.synth` makes synthetic
extracts from a scenario; :mod:`.backtest` checks the calibrated model against later data.
"""

from simulation.calibration.estimate import CalibrationError
from simulation.calibration.mapping import Rules, read_providers
from simulation.calibration.pipeline import Calibration, calibrate
from simulation.calibration.readers import DataIssue, ExtractError, read_extract
from simulation.calibration.synth import Synthetic903, synth_903

__all__ = [
    "Calibration",
    "CalibrationError",
    "DataIssue",
    "ExtractError",
    "Rules",
    "Synthetic903",
    "calibrate",
    "read_extract",
    "read_providers",
    "synth_903",
]
