"""Training: experiment configs, the model factory, the resumable runner, backups and evaluation of a run."""

from dove_keras.training.backup import ResumableBackup
from dove_keras.training.callbacks import HistoryLogger
from dove_keras.training.callbacks import RetrievalEvaluation
from dove_keras.training.config import ConfigError
from dove_keras.training.config import ExperimentConfig
from dove_keras.training.config import config_from_dict
from dove_keras.training.config import load_config
from dove_keras.training.config import save_config
from dove_keras.training.factory import build_retriever
from dove_keras.training.loading import load_retriever
from dove_keras.training.runner import TrainingResult
from dove_keras.training.runner import run_evaluation
from dove_keras.training.runner import run_training
from dove_keras.training.schedules import step_decay_schedule
