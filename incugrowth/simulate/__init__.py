"""Plate simulator: an IncuCyte growth-inhibition experiment with known truth."""

from incugrowth.simulate.render import (
    DEFAULT_TIMES,
    REFERENCE_SHAPE,
    Design,
    design_names,
    doses_design,
    fig4_design,
    get_design,
    register_design,
    simulate_counts,
    simulate_experiment,
    synthetic_frame,
    time_token,
    write_export,
    write_plate_map_xml,
)

__all__ = [
    "DEFAULT_TIMES",
    "REFERENCE_SHAPE",
    "Design",
    "design_names",
    "doses_design",
    "fig4_design",
    "get_design",
    "register_design",
    "simulate_counts",
    "simulate_experiment",
    "synthetic_frame",
    "time_token",
    "write_export",
    "write_plate_map_xml",
]
