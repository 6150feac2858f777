"""The installation's data: modeling.data.load_reviews with the source, seed, split sizes and
cache folder from the settings (one place, so every command and job reads the same splits)."""

from django.conf import settings

from modeling.config import SplitSizes
from modeling.data import load_reviews


def split_sizes() -> SplitSizes:
    train, validation, test = settings.SENTIMENT_DATA_SPLIT
    return SplitSizes(train=train, validation=validation, test=test)


def load(source: str | None = None, *, seed: int | None = None):
    return load_reviews(
        source or settings.SENTIMENT_DATA_SOURCE,
        seed=settings.SENTIMENT_DATA_SEED if seed is None else seed,
        sizes=split_sizes(),
        cache_dir=settings.SENTIMENT_CACHE_DIR / "datasets",
    )
