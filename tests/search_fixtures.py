"""Image folders, vocabularies and saved small models for the export and search tests."""

import atexit
import functools
import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
from model_fixtures import IMAGE_SIDE
from model_fixtures import VOCABULARY_SIZE
from model_fixtures import small_model
from PIL import Image

from dove_keras.preprocessing.captions import normalize_caption

WORDS = [f"w{i}" for i in range(VOCABULARY_SIZE - 2)]


def picture(seed, height, width):
    """A smooth random uint8 RGB picture (compresses like a photo)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))


def encode(array, image_format, **options):
    """`array` encoded as `image_format` bytes (Pillow)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def decode(data):
    """Pixels of encoded bytes as Pillow (the data tools' decoder) reads them."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def write_image_folder(folder, count=7):
    """PNG, JPEG and TIFF files in two sub-folders, plus one corrupt file.

    Returns:
        The sorted relative paths of the readable images.
    """
    formats = [("png", "PNG"), ("jpg", "JPEG"), ("tif", "TIFF")]
    written = []
    for i in range(count):
        extension, image_format = formats[i % 3]
        relative = f"{'ab'[i % 2]}/img{i:02d}.{extension}"
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(encode(picture(i, 40 + 8 * i, 64), image_format))
        written.append(relative)
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    (folder / "notes.txt").write_text("not an image file")
    return sorted(written)


def reference_token_ids(captions, length, words=WORDS):
    """Token ids by the data contract, in plain Python (0 pad, 1 OOV, 2.. words)."""
    ids = {word: i + 2 for i, word in enumerate(words)}
    rows = np.zeros((len(captions), length), "int32")
    for row, caption in enumerate(captions):
        tokens = [ids.get(word, 1) for word in normalize_caption(caption).split()][:length]
        rows[row, : len(tokens)] = tokens
    return rows


@functools.lru_cache(maxsize=None)
def saved_small_model(length=12):
    """`(model, model_path, preset_path)`: a small retriever with its preprocessor, saved.

    The preprocessor holds `WORDS`, `length` tokens per caption and 64 px
    images. Built once per test process and shared by the export and search
    tests (building costs seconds on JAX); the `.keras` file and the preset
    folder live in a temporary folder removed at exit.
    """
    import keras

    from dove_keras.models import DOVEImageConverter
    from dove_keras.models import DOVEPreprocessor
    from dove_keras.models import DOVETokenizer

    folder = Path(tempfile.mkdtemp(prefix="dove-search-tests-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    keras.utils.set_random_seed(3)
    preprocessor = DOVEPreprocessor(DOVETokenizer(WORDS), DOVEImageConverter(IMAGE_SIDE), sequence_length=length)
    model = small_model(preprocessor=preprocessor)
    model_path, preset = folder / "small.keras", folder / "preset"
    model.save(model_path)
    model.save_to_preset(str(preset))
    return model, model_path, preset


def interrupt_after_first_chunk(monkeypatch):
    """Makes the next `build_index` stop with Ctrl-C right after saving its first chunk."""
    from dove_keras.search import index_writer

    save_chunk = index_writer._save_chunk

    def save_then_interrupt(*args):
        save_chunk(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(index_writer, "_save_chunk", save_then_interrupt)
