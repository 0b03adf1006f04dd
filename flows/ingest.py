"""Prefect flow of the ingest stage (``python -m flows.ingest``)."""

from flows.stage import main, stage_flow
from genre.stages import ingest

ingest_flow = stage_flow("ingest", ingest.run)

if __name__ == "__main__":
    main(ingest_flow)
