"""The model library of the sentiment service: data, training, evaluation, registry, serving,
explanations. Pure Python on Hugging Face and PyTorch; it never imports Django."""
