"""Plate simulator: an IncuCyte growth-inhibition experiment with known truth.

A *design* is a table of wells (cell line, treatment, dose, replicate) with the growth kinetics
of each well. :func:`simulate_counts` turns it into true nucleus counts per well, field and
time; :func:`simulate_experiment` also renders the frames (NucLight-Red-like nuclear channel,
16-bit, and phase contrast, 8-bit) and writes the metric export, the plate maps and the truth
tables, laid out like a real experiment folder::

    frames/red/<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif     16-bit, LZW
    frames/phase/<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif   8-bit, LZW
    frames/green/<prefix>_<Well>_<Field>_<DD>d<HH>h<MM>m.tif   dead cells (dead_frames=True)
    truth.csv            one row per true nucleus of every rendered frame
    truth_counts.csv     one row per well, field and time (live and dead counts)
    truth_effects.csv    the true effect of each treatment and the verdict it should get
    export_red_count.txt IncuCyte S3/SX5 metric export, Red Object Count (Per Image)
    export_green_count.txt  the dead-cell count, Green Object Count (Per Image)
    plate_map.csv        long plate map
    plate_map.PlateMap   IncuCyte plate map XML

Kinetics
--------
Each well grows logistically, ``N(t) = K / (1 + (K/N0 - 1) exp(-R(t)))``, where the
cumulative rate ``R(t)`` integrates a specific growth rate ``r`` that ramps up after plating
(lag ``tau``: ``r (1 - exp(-t/tau))``) and is multiplied by ``1 - effect`` from the treatment
onset on (cytostatic inhibition). Replicate wells differ by lognormal factors on the rate
(``RATE_SD``) and the seeding of each field (``SEEDING_SD``); the true count of a frame is a
Poisson draw around ``N(t)`` (cells moving in and out of the field). Seeding and capacity
refer to a full 1408 x 1040 frame and scale with the frame area.

Dead cells
----------
A dead-cell dye (Cytotox Green) beside the nuclear label: every well keeps a background share
of dead cells (``background_dead``, 5 %) of its live count, and a treatment with a kill rate
(``kill_rate_per_h``) adds dead cells at that rate per live cell from the onset on, which stay
labelled. The live count is the kinetic model above (the net of division and death), so it
is the same with or without the dead-cell channel. In ``fig4`` the interferons are
cytostatic (growth slowed, no extra death) and 2'3'-cGAMP cytotoxic where it acts; in
``doses`` low doses of IFN gamma are cytostatic and 30-100 ng/ml kill. ``truth_effects.csv``
gives each treatment's verdict (:func:`~incugrowth.simulate.kinetics.true_effects`). Dead
nuclei are drawn in the green frames like red nuclei, a little smaller and brighter, placed
at random (not in colonies).

Rendering
---------
Nuclei (10-15 px across, as NucLight Red nuclei at 10x) grow in colonies: the nuclei of a
field form one sequence, founders first, each later nucleus placed beside an earlier one
(its parent) and never closer to another than ``MIN_SEPARATION`` times their summed radii
(further when their brightness differs), so nuclei touch but rarely overlap. The frame at a
time shows the first ``N(t)`` nuclei of the sequence, so colonies persist and grow from frame
to frame; the newest nuclei and their parents are drawn as dividing pairs (smaller,
brighter). Each nucleus is an elliptical Gaussian blob of its own size, orientation and
(lognormal) brightness, added as a small precomputed kernel patch. Frames get smooth
vignetting, a camera offset, autofluorescence, shot and read noise, bright specks and large
dim debris, and a small share (``OUT_OF_FOCUS_RATE``) are out of focus (blurred;
``out_of_focus`` in ``truth_counts.csv``). The phase frame draws each cell as a ragged
footprint around its nucleus, slightly dark and granular, with a bright halo outside its
border; the covered share is ``confluence_true``.

Every true nucleus of an in-focus frame is a local intensity maximum within 2 px of its
``truth.csv`` position. Everything is deterministic for a seed: each well, field and time
draws from its own child seed, so rendering a subset of wells or times gives the same frames,
and the counts do not depend on the time grid. ``truth.csv`` of a full plate at full size is
large (about 100 MB for 90 wells x 25 times); the frames about 2.8 MB each (red and phase).

Modules
-------
:mod:`~incugrowth.simulate.designs` (plate designs), :mod:`~incugrowth.simulate.kinetics`
(growth and true counts), :mod:`~incugrowth.simulate.layout` (colonies),
:mod:`~incugrowth.simulate.plates` (repeated plates, with plate effects),
:mod:`~incugrowth.simulate.render` (frames), :mod:`~incugrowth.simulate.writers` (IncuCyte
files) and :mod:`~incugrowth.simulate.experiment` (the whole folder).
"""

from incugrowth.simulate._common import DEFAULT_TIMES, REFERENCE_SHAPE
from incugrowth.simulate.designs import (
    Design,
    design_names,
    doses_design,
    fig4_design,
    get_design,
    register_design,
)
from incugrowth.simulate.experiment import simulate_experiment
from incugrowth.simulate.kinetics import simulate_counts
from incugrowth.simulate.plates import simulate_plates
from incugrowth.simulate.render import synthetic_frame
from incugrowth.simulate.writers import time_token, write_export, write_plate_map_xml

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
    "simulate_plates",
    "synthetic_frame",
    "time_token",
    "write_export",
    "write_plate_map_xml",
]
