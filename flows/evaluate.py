"""Prefect flow of the evaluate stage (``python -m flows.evaluate``)."""

from flows.stage import main, stage_flow
from genre.stages import evaluate

evaluate_flow = stage_flow("evaluate", evaluate.run)

if __name__ == "__main__":
    main(evaluate_flow)
