"""Synthetic aerial scenes with captions, written as a precomp benchmark folder.

Scenes share textured ground and clutter (water, roads, trees) and differ in
small key objects (planes, ships, storage tanks, buildings, a playground or a
bridge), their counts, colours, sizes and relations; each image gets five
different captions written from what was actually placed.
"""

from dove_keras.datasets.synthetic.captions import generate_captions
from dove_keras.datasets.synthetic.preview import save_sample_sheet
from dove_keras.datasets.synthetic.scene import Scene
from dove_keras.datasets.synthetic.scene import generate_scene
from dove_keras.datasets.synthetic.writer import generate_dataset
from dove_keras.datasets.synthetic.writer import generate_example
