"""Two-stage text -> image search (DESIGN section 1.5).

Stage 1 ranks every indexed image by the cosine of its global embedding V_M
and the caption's T_G (exact NumPy search, or faiss). These embeddings are
aligned only by the global constraint of training (`lambda_global > 0`): a
model trained with `lambda_global = 0` has untrained stage-1 embeddings.
Stage 2 re-ranks the best `candidates` with ROAM's pairwise score (IGA
guided by each candidate's regions, cosine with its V_MR).
"""

import json
import logging

import numpy as np
import pandas as pd

from dove_keras.preprocessing.captions import normalize_caption
from dove_keras.search import nearest

logger = logging.getLogger(__name__)


class Searcher:
    """Queries an `ImageIndex` with the model that built it.

    Args:
        index: an `ImageIndex`.
        encoder: from `load_encoder`; must be the index's model.
        use_faiss: stage 1 with faiss (`faiss-cpu`) instead of NumPy.

    Raises:
        ValueError: the encoder is not the index's model, the index is empty,
            or faiss was asked for and is not installed.
    """

    def __init__(self, index, encoder, use_faiss=False):
        if encoder.fingerprint != index.header["fingerprint"]:
            raise ValueError(
                f"{index.path} was built with another model ({index.header['model']['model']}, "
                f"fingerprint {index.header['fingerprint']}); this one has fingerprint "
                f"{encoder.fingerprint}: query with the index's model or re-index"
            )
        if len(index) == 0:
            raise ValueError(f"{index.path}: the index holds no image")
        if encoder.lambda_global <= 0:
            logger.warning(
                "the model was trained with lambda_global = 0: its global "
                "embeddings (stage 1) are not trained to match, expect poor candidates"
            )
        self.index = index
        self.encoder = encoder
        self._database = nearest.normalize_rows(index.global_embeddings)
        self._faiss = None
        if use_faiss:
            if not nearest.faiss_available():
                raise ValueError("--faiss needs the optional faiss-cpu package (pip install faiss-cpu)")
            self._faiss = nearest.FaissIndex(self._database)

    def search(self, text, k=10, candidates=100, rerank=True):
        """The top `k` images for `text`.

        Args:
            text: the query caption.
            k: results.
            candidates: stage-1 results re-ranked by ROAM (at least k).
            rerank: re-rank with ROAM (ignored for a model without ROAM).

        Returns:
            A DataFrame, best first: `rank`, `path`, `score` (the ranking
            score: ROAM when re-ranked, else global), `roam_score`,
            `global_score`, `global_rank` (rank in stage 1), `row`.

        Raises:
            ValueError: `text` has no word (lower-case letters and digits).
        """
        words = normalize_caption(text).split()
        if not words:
            raise ValueError(f"the query {text!r} is empty after normalisation (keeps [a-z0-9 ])")
        if len(words) > self.encoder.sequence_length:
            logger.warning(
                "the query has %d words; the model reads the first %d (its caption length)",
                len(words), self.encoder.sequence_length,
            )
        features = self.encoder.embed_texts([text])
        query = nearest.normalize_rows(features["global"])
        depth = max(k, candidates) if rerank and self.index.use_roam else k
        if self._faiss is not None:
            global_scores, rows = self._faiss.top_k(query, depth)
        else:
            global_scores, rows = nearest.top_k(self._database, query, depth)
        global_scores, rows = global_scores[0], rows[0]
        frame = pd.DataFrame({
            "row": rows,
            "path": self.index.table["path"].to_numpy()[rows],
            "global_score": global_scores,
            "global_rank": np.arange(1, len(rows) + 1),
        })
        if rerank and self.index.use_roam:
            roam = self.encoder.score(self.index.features(rows), features)[:, 0]
            frame["roam_score"] = roam
            frame["score"] = roam
            frame = frame.sort_values(["score", "global_rank"], ascending=[False, True], kind="stable")
        else:
            frame["roam_score"] = np.nan
            frame["score"] = frame["global_score"]
        frame = frame.head(k).reset_index(drop=True)
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame[["rank", "path", "score", "roam_score", "global_score", "global_rank", "row"]]

    def geo_hits(self, results):
        """The results of a scene index as `dove_keras.geo.GeoHit`s (for GeoJSON / CSV)."""
        from dove_keras.geo import GeoHit
        from dove_keras.geo import SceneTile

        hits = []
        for result in results.itertuples(index=False):
            row = self.index.table.iloc[int(result.row)]
            tile = SceneTile(
                scene=row["source"], window=self.index.window(result.row), crs=row["crs"] or None,
                footprint=[tuple(point) for point in json.loads(row["footprint"])], key=row["path"],
            )
            hits.append(GeoHit(int(result.rank), float(result.global_score), float(result.roam_score), tile))
        return hits
