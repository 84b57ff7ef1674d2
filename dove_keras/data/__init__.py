"""Data layer: caption formats and normalisation, image files, TFRecord shards, tf.data pipelines.

Modules: `captions` (normalisation, vocabulary files), `images` (decoding image
files), `readers` (benchmark caption formats), `shards` (the prepared-folder
layout), `augmentation` (the training transforms), `pipelines` (training and
evaluation datasets).
"""
