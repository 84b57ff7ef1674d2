"""Data layer: caption readers, the caption tokenizer and tf.data pipelines."""

from dove_keras.data.pipelines import make_eval_datasets
from dove_keras.data.pipelines import make_train_dataset
from dove_keras.data.readers import DataFormatError
from dove_keras.data.readers import ImageRecord
from dove_keras.data.readers import read_captions
from dove_keras.data.tokenizer import CaptionTokenizer
from dove_keras.data.tokenizer import normalize_caption
