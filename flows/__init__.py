"""Prefect flows: one thin flow per pipeline stage, and the pipeline that chains them."""
