"""Results tables: rows of recalls as a DataFrame, CSV and GitHub markdown."""

import pandas as pd

RECALL_COLUMNS = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR"]


def results_frame(rows):
    """A DataFrame of evaluation rows (dicts), recalls rounded to 2 decimals."""
    frame = pd.DataFrame(list(rows))
    recalls = [c for c in RECALL_COLUMNS if c in frame]
    frame[recalls] = frame[recalls].astype(float).round(2)
    return frame


def markdown_table(frame):
    """`frame` as a GitHub markdown table (no extra dependency)."""

    def cell(value):
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "|".join("---:" if frame[c].dtype.kind in "if" else "---" for c in frame.columns) + "|")
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_results(frame, path_stem):
    """Writes `{path_stem}.csv` and `{path_stem}.md`; returns both paths."""
    csv_path, md_path = f"{path_stem}.csv", f"{path_stem}.md"
    frame.to_csv(csv_path, index=False)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown_table(frame))
    return csv_path, md_path
