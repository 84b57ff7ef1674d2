"""Search hits on scene tiles, and the merging of overlapping hits.

Merging (`merge_overlapping`): two hits of the same scene are neighbours when
their footprints overlap with a positive area (tiles that only touch along an
edge or at a corner are not merged); groups are the connected sets of
neighbours, so a chain A-B-C merges into one group even when A and C do not
overlap. A group becomes one result: the best-ranked member's rank, scores and
key, the union of the footprints (shapely), the pixel window bounding all the
members, and the keys of all members in rank order. Ranks keep their original
values, so a gap in the ranks shows where hits were merged.
"""

import dataclasses
import math

from dove_keras.geo.optional import require


@dataclasses.dataclass(frozen=True)
class GeoHit:
    """One search result on a tile.

    Attributes:
        rank: 1-based rank.
        stage1_score: the global (stage-1) cosine score.
        roam_score: ROAM re-ranking score, or None (NaN counts as None) when
            not re-ranked.
        tile: the hit's `SceneTile`.
    """

    rank: int
    stage1_score: float
    roam_score: float | None
    tile: object


@dataclasses.dataclass(frozen=True)
class MergedHit:
    """A result row: one hit, or a group of merged hits.

    Attributes:
        hit: the best-ranked `GeoHit` of the group.
        window: (col, row, width, height) bounding the members' windows.
        geometry: shapely Polygon of the footprint(s), in the scene CRS.
        keys: the members' tile keys, in rank order.
    """

    hit: GeoHit
    window: tuple
    geometry: object
    keys: tuple


def roam_value(hit):
    """A hit's ROAM score as a float, or None when it has none (None or NaN)."""
    score = hit.roam_score
    return None if score is None or math.isnan(score) else float(score)


def _bounding_window(windows):
    left = min(w[0] for w in windows)
    top = min(w[1] for w in windows)
    right = max(w[0] + w[2] for w in windows)
    bottom = max(w[1] + w[3] for w in windows)
    return (left, top, right - left, bottom - top)


def single(hit):
    """The result row of one hit, unmerged."""
    polygon = require("shapely.geometry").Polygon(hit.tile.footprint)
    return MergedHit(hit, tuple(hit.tile.window), polygon, (hit.tile.key,))


def merge_overlapping(hits):
    """Merges hits of the same scene whose footprints overlap (see the module docstring).

    Args:
        hits: `GeoHit`s, in any order.

    Returns:
        `MergedHit`s sorted by their best rank.
    """
    shapely = require("shapely")
    hits = sorted(hits, key=lambda h: h.rank)
    polygons = [single(hit).geometry for hit in hits]
    group = list(range(len(hits)))

    def root(i):
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i in range(len(hits)):
        for j in range(i + 1, len(hits)):
            same_scene = hits[i].tile.scene == hits[j].tile.scene
            if same_scene and polygons[i].intersection(polygons[j]).area > 0:
                group[max(root(i), root(j))] = min(root(i), root(j))
    members = {}
    for i in range(len(hits)):
        members.setdefault(root(i), []).append(i)
    return [
        MergedHit(
            hit=hits[first],
            window=_bounding_window([hits[i].tile.window for i in indexes]),
            geometry=shapely.union_all([polygons[i] for i in indexes]),
            keys=tuple(hits[i].tile.key for i in indexes),
        )
        for first, indexes in sorted(members.items())
    ]
