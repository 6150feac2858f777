"""Writes: one module per entity, each service keyword-only, typed and atomic. The website, the
API, the admin and the worker all change data through these (reads are in reviews.selectors).

    reviews       validate and classify texts, keep reviews and predictions
    feedback      flags, and staff approving or rejecting them
    model_versions  registering and activating versions (rollback = activating an older one)
    training      training runs: requests, progress, the outcome applied in one transaction, promotion
    explanations  asking for an explanation
    accounts      API tokens
"""
