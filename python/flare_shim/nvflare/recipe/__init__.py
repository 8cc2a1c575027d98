"""FLARE's recipe API (`nvflare.recipe`): recipes build a FedJob; SimEnv runs it in Cohort's
simulator, PocEnv in Cohort's POC and ProdEnv in a federation, both through `cohort admin`."""

from .cyclic import CyclicRecipe
from .poc_env import PocEnv
from .prod_env import ProdEnv
from .run import Run
from .sim_env import SimEnv
from .spec import ExecEnv, Recipe
from .utils import add_cross_site_evaluation, add_experiment_tracking

__all__ = ["CyclicRecipe", "ExecEnv", "PocEnv", "ProdEnv", "Recipe", "Run", "SimEnv", "add_cross_site_evaluation", "add_experiment_tracking"]
