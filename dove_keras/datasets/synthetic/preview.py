"""A contact sheet of generated scenes with one caption each, to eyeball them."""

import pathlib
import textwrap

from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from dove_keras.datasets.synthetic.writer import generate_example


def save_sample_sheet(path, num_scenes=16, image_size=128, seed=0, columns=4, scale=2):
    """Saves a PNG grid of scenes, each shown with its first caption.

    Args:
        path: output PNG file.
        num_scenes: number of scenes (images 0 .. num_scenes - 1 of `seed`).
        image_size: scene side in pixels.
        seed: dataset seed.
        columns: scenes per row.
        scale: integer enlargement of each scene.

    Returns:
        The path written, as a `pathlib.Path`.
    """
    tile = image_size * scale
    font = ImageFont.load_default(size=max(10, tile // 22))
    chars = max(20, int(tile / (font.size * 0.55)))
    text_height = 4 * (font.size + 3) + 6
    rows = -(-num_scenes // columns)
    size = (columns * (tile + 8) + 8, rows * (tile + text_height + 8) + 8)
    sheet = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(sheet)
    for index in range(num_scenes):
        scene, captions = generate_example(seed, index, image_size)
        x = 8 + (index % columns) * (tile + 8)
        y = 8 + (index // columns) * (tile + text_height + 8)
        sheet.paste(Image.fromarray(scene.image).resize((tile, tile), Image.NEAREST), (x, y))
        for line_number, line in enumerate(textwrap.wrap(captions[0], chars)[:4]):
            line_y = y + tile + 4 + line_number * (font.size + 3)
            draw.text((x, line_y), line, fill="black", font=font)
    path = pathlib.Path(path)
    sheet.save(path)
    return path
