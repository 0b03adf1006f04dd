"""Prefect flow of the evaluate stage (``python -m flows.evaluate``)."""

from flows.stage import main, stage_flow

evaluate_flow = stage_flow("evaluate", "genre.stages.evaluate")

if __name__ == "__main__":
    main(evaluate_flow)
