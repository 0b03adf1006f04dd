"""GenRe: generative algorithmic recourse, trained and served as a reproducible pipeline."""
