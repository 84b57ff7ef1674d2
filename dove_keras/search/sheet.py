"""Contact sheet of search results (matplotlib, written as PNG)."""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dove_keras.data.images import ImageError  # noqa: E402


def contact_sheet(results, index, query, path, columns=5):
    """Writes the result images of one query in a grid, best first.

    Args:
        results: the DataFrame of `Searcher.search`.
        index: the `ImageIndex` searched.
        query: the query text (the sheet's title).
        path: the PNG to write.
        columns: images per row.
    """
    count = max(len(results), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = plt.figure(figsize=(2.6 * columns, 2.9 * rows + 0.6))
    figure.suptitle("\n".join(textwrap.wrap(f"query: {query}", 100)), fontsize=10)
    for position, result in enumerate(results.itertuples(index=False)):
        axis = figure.add_subplot(rows, columns, position + 1)
        axis.set_xticks([]), axis.set_yticks([])
        try:
            axis.imshow(index.picture(result.row))
        except (ImageError, ValueError):
            axis.text(0.5, 0.5, "(unreadable now)", ha="center", va="center", fontsize=8)
        name = result.path if len(result.path) <= 32 else "..." + result.path[-29:]
        title = f"#{result.rank} {name}\nscore {result.score:.3f}"
        if result.global_rank != result.rank:
            title += f" (stage 1: #{result.global_rank})"
        axis.set_title(title, fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
