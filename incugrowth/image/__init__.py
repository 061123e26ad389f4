"""Image analysis of IncuCyte frames: nucleus counts, phase confluence and frame QC.

Each function takes one 2-D frame (any real dtype, never modified) and returns plain data;
all are module-level functions, so they can be sent to process pools and Dask workers.
"""

from incugrowth.image.confluence import (
    dish_contrast,
    looks_like_phase_contrast,
    phase_confluence,
    phase_mask,
    reference_dish_contrast,
)
from incugrowth.image.diameter import estimate_diameter
from incugrowth.image.measure import measure_frame
from incugrowth.image.nuclei import count_nuclei, segment_nuclei
from incugrowth.image.qc import flag_count_jumps, flag_focus_drops, focus_score, frame_qc

__all__ = [
    "count_nuclei",
    "dish_contrast",
    "estimate_diameter",
    "flag_count_jumps",
    "flag_focus_drops",
    "focus_score",
    "frame_qc",
    "looks_like_phase_contrast",
    "measure_frame",
    "phase_confluence",
    "phase_mask",
    "reference_dish_contrast",
    "segment_nuclei",
]
