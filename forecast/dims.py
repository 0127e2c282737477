"""Named dimensions and variable names, spelled once for the whole package."""

SCENARIO = "scenario"
DRIVER = "driver"
QUARTER = "quarter"
EVIDENCE = "evidence"
NODE = "node"
INTERACTION = "interaction"
INDICATOR_OBS = "indicator_obs"

#: Name of the single variable in the ``log_likelihood`` group (MODEL.md §4).
LOG_LIKELIHOOD_VAR = "evidence"
#: Entry of the ``evidence`` dim that holds the whole scenario-ratings block.
RATINGS_BLOCK = "ratings"
