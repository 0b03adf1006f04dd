"""Prefect flow of the train_classifier stage (``python -m flows.train_classifier``)."""

from flows.stage import main, stage_flow

train_classifier_flow = stage_flow("train-classifier", "genre.stages.train_classifier")

if __name__ == "__main__":
    main(train_classifier_flow)
