"""Prefect flow of the train_classifier stage (``python -m flows.train_classifier``)."""

from flows.stage import main, stage_flow
from genre.stages import train_classifier

train_classifier_flow = stage_flow("train-classifier", train_classifier.run)

if __name__ == "__main__":
    main(train_classifier_flow)
