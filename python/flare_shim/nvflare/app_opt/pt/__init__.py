"""FLARE's `nvflare.app_opt.pt` (what PyTorch job.py files import: the FedAvg recipe and the file
model persistor)."""
