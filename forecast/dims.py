"""Named dimensions and variable names, spelled once for the whole package."""

# Output dims (the contract of ARCHITECTURE.md)
SCENARIO = "scenario"
DRIVER = "driver"
QUARTER = "quarter"
EVIDENCE = "evidence"
INTERACTION = "interaction"

# Model-internal dims
SERIES = "series"  # indicator series
INNOVATION_NORMAL = "innovation_normal"  # free unit innovations, labelled "driver:quarter"
INNOVATION_STUDENT = "innovation_student"
PIN = "indicator_pin"  # indicator observations that anchor x (model.pinned_observations)

#: The single variable of the ``log_likelihood`` group; its dim is ``EVIDENCE`` (MODEL.md §4).
LOG_LIKELIHOOD_VAR = "loglik"
#: Entry of the ``evidence`` dim that holds the whole scenario-ratings block.
RATINGS_BLOCK = "ratings"
