"""Contact sheet of search results (matplotlib, written as PNG)."""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dove_keras.data.images import ImageError  # noqa: E402
from dove_keras.reports.pictures import draw_picture  # noqa: E402


def result_pictures(results, index):
    """The pictures of the result rows as indexed (None for a file unreadable now)."""
    pictures = []
    for row in results["row"]:
        try:
            pictures.append(index.picture(row))
        except (ImageError, ValueError):
            pictures.append(None)
    return pictures


def contact_sheet(results, pictures, query, path, heat_maps=None, columns=5):
    """Writes the result images of one query in a grid, best first.

    Args:
        results: the DataFrame of `Searcher.search`.
        pictures: the results' pictures (`result_pictures`).
        query: the query text (the sheet's title).
        path: the PNG to write.
        heat_maps: optional maps of where ROAM looked, one per picture
            (`dove_keras.models.attention_maps.raw_heat_maps`), overlaid.
        columns: images per row.
    """
    count = max(len(results), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = plt.figure(figsize=(2.6 * columns, 2.9 * rows + 0.6))
    title = f"query: {query}" + ("  (overlay: where ROAM looked)" if heat_maps is not None else "")
    figure.suptitle("\n".join(textwrap.wrap(title, 100)), fontsize=10)
    for position, result in enumerate(results.itertuples(index=False)):
        axis = figure.add_subplot(rows, columns, position + 1)
        picture = pictures[position]
        if picture is None:
            axis.set_xticks([]), axis.set_yticks([])
            axis.text(0.5, 0.5, "(unreadable now)", ha="center", va="center", fontsize=8)
        else:
            draw_picture(axis, picture, None if heat_maps is None else heat_maps[position])
        name = result.path if len(result.path) <= 32 else "..." + result.path[-29:]
        label = f"#{result.rank} {name}\nscore {result.score:.3f}"
        if result.global_rank != result.rank:
            label += f" (stage 1: #{result.global_rank})"
        axis.set_title(label, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
