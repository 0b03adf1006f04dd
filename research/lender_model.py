"""A lender's own model, fitted the way a lender would fit one, for the tests and benchmarks that
explain a model GenRe did not train (``train_classifier.model``).

Boosted trees on the raw columns (category codes for the categorical ones), the data's own labels,
protected attributes left out, saved with skops: a model whose probabilities GenRe can ask for but
whose gradients it cannot, and which does not take every feature of the schema.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from genre.data.schema import DatasetSchema


def fit_lender_model(
    train: pd.DataFrame, schema: DatasetSchema, left_out: tuple[str, ...] = ("race", "sex"), max_iter: int = 100
) -> Any:
    """A fitted ``Pipeline`` over ``train``'s raw columns but ``left_out``; 1 = the favourable label."""
    features = [n for n in schema.feature_names if n not in left_out]
    categorical = [n for n in features if schema.features[n].kind == "categorical"]
    numbers = [n for n in features if n not in categorical]
    encode = make_column_transformer((OrdinalEncoder(), categorical), ("passthrough", numbers))
    trees = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))), max_iter=max_iter, random_state=0
    )
    labels = (train[schema.target.name] == schema.target.favourable).astype(int)
    return make_pipeline(encode, trees).fit(train[categorical + numbers], labels)
