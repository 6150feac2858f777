"""The installation's data: modeling.data.load_reviews with the source, seed, split sizes and
cache folder from the settings (one place, so every command and job reads the same splits)."""

from django.conf import settings

from modeling.config import SplitSizes
from modeling.data import load_reviews

# Sources whose split sizes SENTIMENT_DATA_SPLIT sets; packaged-rt keeps its own fixed split.
SIZED_SOURCES = ("packaged", "imdb", "aclimdb")


def split_sizes() -> SplitSizes:
    train, validation, test = settings.SENTIMENT_DATA_SPLIT
    return SplitSizes(train=train, validation=validation, test=test)


def load(source: str | None = None, *, seed: int | None = None):
    source = source or settings.SENTIMENT_DATA_SOURCE
    return load_reviews(
        source,
        seed=settings.SENTIMENT_DATA_SEED if seed is None else seed,
        sizes=split_sizes() if source.partition(":")[0] in SIZED_SOURCES else None,
        cache_dir=settings.SENTIMENT_CACHE_DIR / "datasets",
    )
