"""Prefect flow of the train_generator stage (``python -m flows.train_generator``)."""

from flows.stage import main, stage_flow
from genre.stages import train_generator

train_generator_flow = stage_flow("train-generator", train_generator.run)

if __name__ == "__main__":
    main(train_generator_flow)
