"""The REST API (/api/v1/). Each view validates its input with its own nested serializer, calls
one service or selector, and renders with an output serializer; the website calls the same
services.

    base          ApiView (staff only unless a view says otherwise), pagination, input validation
    errors        the one error shape for every failure under /api/, and the middleware
    parsers       the bounded, strict JSON parser
    permissions   staff endpoints need the Django permission their view names
    throttles     throttling through the site's shared rate limiter
    serializers   strict fields and the output serializers several endpoints share
    examples      what the OpenAPI schema shows beyond the serializers (errors, examples)
    predict, reviews, feedback, model_versions, explanations, training, health: one per resource
    urls          the paths, exactly as documented
"""
