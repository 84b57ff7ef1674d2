"""Data layer: caption files, image files, TFRecord shards, tf.data pipelines.

Modules: `readers` (benchmark caption formats), `vocabulary` (vocabulary
files), `images` (decoding image files), `prepare` (a benchmark folder to
shards), `shards` (the prepared-folder layout), `augmentation` (the training
transforms), `pipelines` (training and evaluation datasets). Caption
normalisation and the image-size rule live in `dove_keras.preprocessing`.
"""
