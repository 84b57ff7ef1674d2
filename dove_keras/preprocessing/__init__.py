"""The model-input contract shared by `data/` and `models/`: captions, token ids, image size, resize, normalisation."""
