"""The installation's data: modeling.data.load_reviews with the source, seed, split sizes and
cache folder from the settings (one place, so every command and job reads the same splits)."""

from modeling.data import load_reviews
from reviews.conf import conf

# Sources whose split sizes SENTIMENT_DATA_SPLIT sets; packaged-rt keeps its own fixed split.
SIZED_SOURCES = ("packaged", "imdb", "aclimdb")


def load(source: str | None = None, *, seed: int | None = None):
    """The splits of `source` (default SENTIMENT_DATA_SOURCE) with the installation's seed and sizes."""
    source = source or conf.data.source
    return load_reviews(
        source,
        seed=conf.data.seed if seed is None else seed,
        sizes=conf.split_sizes() if any(p.strip().partition(":")[0] in SIZED_SOURCES for p in source.split("+")) else None,
        cache_dir=conf.site.cache_dir / "datasets",
    )
