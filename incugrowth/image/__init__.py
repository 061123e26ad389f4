"""Image analysis of IncuCyte frames: nucleus counts, phase confluence and frame QC.

Each function takes one 2-D frame (any real dtype, never modified) and returns plain data.
"""

from incugrowth.image.diameter import estimate_diameter
from incugrowth.image.nuclei import count_nuclei, segment_nuclei

__all__ = ["count_nuclei", "estimate_diameter", "segment_nuclei"]
