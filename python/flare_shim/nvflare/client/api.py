"""FLARE's `nvflare.client.api`: the Client API functions, from cohort_flare."""

from nvflare.client import *  # noqa: F401,F403
from nvflare.client import __all__  # noqa: F401
