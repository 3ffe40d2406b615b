"""Grids of trainings: specs, local and Dask execution, resumable storage, reports."""
