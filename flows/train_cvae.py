"""Prefect flow of the train_cvae stage (``python -m flows.train_cvae``)."""

from flows.stage import main, stage_flow
from genre import train_cvae

train_cvae_flow = stage_flow("train-cvae", train_cvae.run)

if __name__ == "__main__":
    main(train_cvae_flow)
