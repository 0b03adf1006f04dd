"""Prefect flow of the synthesize_pairs stage (``python -m flows.synthesize_pairs``)."""

from flows.stage import main, stage_flow
from genre.stages import synthesize_pairs

synthesize_pairs_flow = stage_flow("synthesize-pairs", synthesize_pairs.run)

if __name__ == "__main__":
    main(synthesize_pairs_flow)
