"""Retrieval metrics: ranks, R@K and mR, and model evaluation on a split."""

from dove_keras.metrics.chance import chance_recalls
from dove_keras.metrics.evaluation import EvaluationResult
from dove_keras.metrics.evaluation import encode_captions
from dove_keras.metrics.evaluation import encode_images
from dove_keras.metrics.evaluation import evaluate_model
from dove_keras.metrics.retrieval import retrieval_ranks
from dove_keras.metrics.retrieval import retrieval_recalls
