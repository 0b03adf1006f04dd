"""Prefect flow of the train_generator stage (``python -m flows.train_generator``)."""

from flows.stage import main, stage_flow

train_generator_flow = stage_flow("train-generator", "genre.stages.train_generator")

if __name__ == "__main__":
    main(train_generator_flow)
