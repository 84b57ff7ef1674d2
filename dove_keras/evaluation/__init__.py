"""Evaluation: encode a split, score it, and its ranks, R@K and mR."""

from dove_keras.evaluation.chance import chance_recalls
from dove_keras.evaluation.encode import encode_image_batches
from dove_keras.evaluation.encode import encode_text_batches
from dove_keras.evaluation.evaluate import EvaluationResult
from dove_keras.evaluation.evaluate import evaluate_model
from dove_keras.evaluation.ranks import retrieval_ranks
from dove_keras.evaluation.ranks import retrieval_recalls
