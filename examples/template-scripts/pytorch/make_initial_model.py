"""Writes initial_model.safetensors: model.SimpleNetwork's weights with torch.manual_seed(0), the
initial global model the PyTorch templates' PTFileModelPersistor reads (Cohort's server never runs
Python). Run it again after changing model.py: `python3 make_initial_model.py`."""

import os

import torch
from model import SimpleNetwork

from cohort_flare.safetensors import save_file

torch.manual_seed(0)
save_file(SimpleNetwork().state_dict(), os.path.join(os.path.dirname(os.path.abspath(__file__)), "initial_model.safetensors"))
