"""Scene search end to end with a trained preset: indexing rate, memory, hit rate, latency (not a test).

Writes a GeoTIFF mosaic of synthetic scenes that the model never saw (their
own generator seed), indexes its tiles with `dove search index --scenes`'s
library path (one tile per planted scene: tile = scene size, stride = half of
it, so most tiles straddle scenes), then queries the first caption of every
planted scene. A query hits at k when one of its top-k tiles is exactly the
planted scene's footprint. Prints one JSON line: tiles, tiles/s of indexing
(read + stretch + encode + write), peak resident memory, hit rates at 1/5/10,
and the median query latency (text encoding, stage 1 and ROAM re-ranking of
--candidates tiles). Peak memory does not grow with the scene: run two
--grid sizes and compare.

    python benchmarks/scene_search.py --preset dove_runs/demo/dove/preset
    python benchmarks/scene_search.py --preset ... --grid 32 --sheet hits.png   # + a contact sheet
"""

import argparse
import json
import os
import resource
import tempfile
import time

import numpy as np

from dove_keras.backends import use_default_xla_flags


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True, help="a DOVE preset folder (e.g. dove demo's)")
    parser.add_argument("--grid", type=int, default=16, help="scenes per side of the mosaic (default 16)")
    parser.add_argument("--scene-size", type=int, default=128, help="side of each planted scene (default 128)")
    parser.add_argument("--seed", type=int, default=1000, help="generator seed of the scenes (default 1000)")
    parser.add_argument("--candidates", type=int, default=100, help="tiles re-ranked by ROAM (default 100)")
    parser.add_argument("--sheet", metavar="PNG", help="also draw the top 5 of the first query with attention")
    parser.add_argument("--geojson", metavar="FILE", help="also write the top 5 of the first query as GeoJSON")
    args = parser.parse_args(argv)

    from dove_keras.geo.synthetic_mosaic import write_mosaic
    from dove_keras.search import ImageIndex
    from dove_keras.search import SceneTiles
    from dove_keras.search import Searcher
    from dove_keras.search import build_index
    from dove_keras.search import load_encoder

    work = tempfile.mkdtemp(prefix="dove_scene_search_")
    side = args.scene_size
    mosaic = write_mosaic(os.path.join(work, "mosaic.tif"), grid=(args.grid, args.grid), scene_size=side,
                          seed=args.seed)
    encoder = load_encoder(args.preset)
    source = SceneTiles([mosaic.path], side, stride=side // 2)
    start = time.perf_counter()
    summary = build_index(encoder, source, os.path.join(work, "index"), progress=False)
    index_seconds = time.perf_counter() - start
    searcher = Searcher(ImageIndex(os.path.join(work, "index")), encoder)

    ranks, latencies, first_results = [], [], None
    for planted in mosaic.scenes:
        tick = time.perf_counter()
        results = searcher.search(planted.captions[0], k=10, candidates=args.candidates)
        latencies.append(time.perf_counter() - tick)
        if first_results is None:
            first_results = results.head(5)  # drawn below
        hits = searcher.geo_hits(results)
        found = [i for i, hit in enumerate(hits) if np.allclose(hit.tile.footprint, planted.footprint)]
        ranks.append(found[0] + 1 if found else None)
    first = mosaic.scenes[0].captions[0]
    if args.sheet or args.geojson:
        _draw(searcher, first_results, first, args)
    tiles = summary["images"]
    print(json.dumps({
        "mosaic": f"{mosaic.width} x {mosaic.height} px", "scenes": len(mosaic.scenes), "tiles": tiles,
        "tile": side, "stride": side // 2, "index_s": round(index_seconds, 1),
        "tiles_per_s": round(tiles / index_seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{f"hit_at_{k}": round(float(np.mean([r is not None and r <= k for r in ranks])), 3) for k in (1, 5, 10)},
        "chance_at_10": round(10 / tiles, 4), "query_median_ms": round(1000 * float(np.median(latencies)), 1),
        "candidates": args.candidates, "first_query": first,
    }))
    return 0


def _draw(searcher, results, text, args):
    """Writes the GeoJSON and/or the contact sheet (with attention) of one query's `results`."""
    from dove_keras.geo import write_geojson
    from dove_keras.search.sheet import contact_sheet
    from dove_keras.search.sheet import result_pictures

    if args.geojson:
        write_geojson(args.geojson, searcher.geo_hits(results), to_wgs84=True)
    if args.sheet:
        pictures = result_pictures(results, searcher.index)
        contact_sheet(results, pictures, text, args.sheet, searcher.encoder.heat_maps(pictures, text))


if __name__ == "__main__":
    use_default_xla_flags()
    raise SystemExit(main())
