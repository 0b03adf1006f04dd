"""Prefect flow of the synthesize_pairs stage (``python -m flows.synthesize_pairs``)."""

from flows.stage import main, stage_flow

synthesize_pairs_flow = stage_flow("synthesize-pairs", "genre.stages.synthesize_pairs")

if __name__ == "__main__":
    main(synthesize_pairs_flow)
