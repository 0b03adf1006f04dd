"""Prefect flow of the ingest stage (``python -m flows.ingest``)."""

from flows.stage import main, stage_flow

ingest_flow = stage_flow("ingest", "genre.stages.ingest")

if __name__ == "__main__":
    main(ingest_flow)
