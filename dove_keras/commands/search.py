"""`dove search index | query`: two-stage text -> image search over image folders or GeoTIFF scenes."""

DESCRIPTION = (
    "Two-stage image search (DESIGN section 1.5). `index` embeds a folder of images or the "
    "tiles of GeoTIFF scenes (resumable, chunk by chunk); `query` finds the images of a "
    "caption: stage 1 ranks every image by the cosine of the global embeddings V_M and T_G "
    "(exact NumPy search, or faiss with --faiss), stage 2 re-ranks the best --candidates "
    "with ROAM's pairwise score. Stage 1 is trained only by the global constraint: the "
    "model must have been trained with lambda_global > 0."
)
MODEL_HELP = (
    "a directory written by `dove export` or a saved .keras DOVERetriever; each carries its "
    "vocabulary, caption length and image size"
)


def add_arguments(parser):
    """Adds the `dove search` subcommands."""
    from dove_keras.commands.options import add_preset_argument

    parser.description = DESCRIPTION
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True,
        help="index: embed images or scene tiles; query: search them with text",
    )
    index = actions.add_parser(
        "index", help="embed a folder of images or GeoTIFF scenes into an index (resumable)",
        description="Embed every .jpg/.jpeg/.png/.tif/.tiff/.bmp file under --images, or "
        "every tile of the GeoTIFF scenes of --scenes (read window by window with rasterio, "
        "never whole; `pip install -e \".[gis]\"`), into the index folder --out: global "
        "embeddings (stage 1), fused embeddings and regions (ROAM re-ranking) and images.csv "
        "(keys, sizes, tile windows, CRS and footprints). Chunks are written atomically: "
        "after an interruption the same command skips what is already embedded; a re-run "
        "embeds again the files that changed and drops the ones that are gone. Unreadable "
        "files are skipped and listed (unreadable.csv), all-nodata or empty tiles counted "
        "(skipped.csv).",
    )
    model = index.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", metavar="PATH", help=MODEL_HELP)
    add_preset_argument(model)
    source = index.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="an image folder (searched recursively)")
    source.add_argument(
        "--scenes", nargs="+", metavar="PATH",
        help="GeoTIFF scenes and/or folders of them (searched recursively), indexed as tiles",
    )
    index.add_argument(
        "--tile-size", type=int, metavar="PX", help="scenes: tile side (default: the model's image size)"
    )
    index.add_argument("--stride", type=int, metavar="PX", help="scenes: pixels between tiles (default: the tile size)")
    index.add_argument(
        "--bands", metavar="R,G,B",
        help="scenes: 1-based bands shown as red, green, blue, e.g. 4,3,2 (default 1,2,3; a "
        "single band is grey)",
    )
    index.add_argument(
        "--percentiles", type=float, nargs=2, default=(2.0, 98.0), metavar=("LOW", "HIGH"),
        help="scenes with 16-bit or float pixels: each band's LOW..HIGH percentiles (of a "
        "decimated read of the scene, nodata excluded) map to 0..255 (default: 2 98)",
    )
    index.add_argument("--out", required=True, metavar="INDEX", help="the index folder (created or resumed)")
    index.add_argument("--chunk-size", type=int, default=256, help="pictures per saved chunk (default 256)")
    index.add_argument("--batch-size", type=int, default=32, help="pictures per model call (default 32)")
    index.add_argument(
        "--regions-dtype", choices=("float32", "float16"), default="float32",
        help="storage of the regions (N_r x d per picture; float16 halves it)",
    )
    index.add_argument("--retry-unreadable", action="store_true", help="read again what an earlier run could not")
    index.add_argument("--quiet", action="store_true", help="no progress bar")

    query = actions.add_parser(
        "query", help="the top-k images of a caption",
        description="Print the top-k images of a caption: stage 1 (global embeddings, trained "
        "by the global constraint lambda_global > 0) proposes --candidates images, ROAM's "
        "pairwise score re-ranks them. For a scene index, --geojson writes the hits' "
        "footprints for GIS tools.",
    )
    query.add_argument("text", help="the query caption")
    query.add_argument("--index", required=True, metavar="INDEX", help="an index folder of `dove search index`")
    model = query.add_mutually_exclusive_group()
    model.add_argument("--model", metavar="PATH", help=MODEL_HELP + " (default: the index's model)")
    add_preset_argument(model)
    query.add_argument("-k", type=int, default=10, help="results (default 10)")
    query.add_argument("--candidates", type=int, default=100, help="stage-1 results re-ranked by ROAM (default 100)")
    query.add_argument("--no-rerank", dest="rerank", action="store_false", help="stage 1 only")
    query.add_argument("--faiss", action="store_true", help="stage 1 with faiss (needs faiss-cpu)")
    query.add_argument("--sheet", metavar="PNG", help="also write a contact sheet of the results")
    query.add_argument(
        "--attention", action="store_true",
        help="with --sheet: overlay where ROAM looked in each result for the query (IGA's region "
        "affinities through IFA's token weights; needs a preset or .keras model, not an export)",
    )
    query.add_argument("--csv", metavar="FILE", help="also write the results table as CSV")
    query.add_argument(
        "--geojson", metavar="FILE",
        help="scene index: write the hits as a GeoJSON FeatureCollection of tile footprints "
        "(properties rank, stage1_score, roam_score, scene, window) and a CSV beside it",
    )
    query.add_argument("--to-wgs84", action="store_true", help="with --geojson: footprints in EPSG:4326 (lon, lat)")
    query.add_argument(
        "--merge-overlaps", action="store_true",
        help="with --geojson: one feature per group of overlapping hit tiles of a scene "
        "(union polygon, the best hit's rank and scores, the members listed in merged_keys)",
    )


def run(args):
    """Runs `dove search ACTION` (errors are reported by the command line)."""
    return _index(args) if args.action == "index" else _query(args)


def _encoder(args, spec=None):
    from dove_keras.errors import UsageError
    from dove_keras.search import load_encoder

    path = args.model or args.preset
    if path is None:
        if spec["model"] is None:
            raise UsageError("the index was built from a model in memory: give --model or --preset")
        path = spec["model"]
    return load_encoder(path)


def _check_index_options(args):
    """Every `index` option and combination, before any work; returns the `--bands` list or None.

    Raises:
        UsageError: the first unusable option.
    """
    from dove_keras.errors import UsageError

    if args.chunk_size < 1 or args.batch_size < 1:
        raise UsageError("--chunk-size and --batch-size must be >= 1")
    scene_options = {"--tile-size": args.tile_size, "--stride": args.stride, "--bands": args.bands,
                     "--percentiles": None if tuple(args.percentiles) == (2.0, 98.0) else args.percentiles}
    given = [flag for flag, value in scene_options.items() if value is not None]
    if args.images and given:
        raise UsageError(f"{', '.join(given)}: only for --scenes (an image folder is embedded whole)")
    for flag in ("--tile-size", "--stride"):
        if scene_options[flag] is not None and scene_options[flag] < 1:
            raise UsageError(f"{flag} must be >= 1, got {scene_options[flag]}")
    low, high = args.percentiles
    if not 0 <= low < high <= 100:
        raise UsageError(f"--percentiles must be LOW HIGH with 0 <= LOW < HIGH <= 100, got {low:g} {high:g}")
    if not args.bands:
        return None
    try:
        bands = [int(band) for band in args.bands.split(",")]
    except ValueError:
        raise UsageError(f"--bands {args.bands!r}: expected band numbers such as 4,3,2") from None
    if len(bands) not in (1, 3) or min(bands) < 1:
        raise UsageError(f"--bands {args.bands!r}: one or three band numbers, each >= 1")
    return bands


def _source(args, encoder, bands):
    from dove_keras.search import ImageFolder
    from dove_keras.search import SceneTiles

    if args.images:
        return ImageFolder(args.images)
    return SceneTiles(args.scenes, args.tile_size or encoder.image_size, args.stride, bands, args.percentiles)


def _index(args):
    from dove_keras.search import build_index

    bands = _check_index_options(args)
    encoder = _encoder(args)
    source = _source(args, encoder, bands)
    for note in getattr(source, "notes", ()):
        print(f"note: {note}")
    summary = build_index(
        encoder, source, args.out, chunk_size=args.chunk_size, batch_size=args.batch_size,
        regions_dtype=args.regions_dtype, retry_unreadable=args.retry_unreadable, progress=not args.quiet,
    )
    print(f"{args.out}: {summary['images']} pictures indexed ({summary['new']} new, "
          f"{summary['changed']} of changed files, {summary['removed']} of removed files dropped)")
    if summary["skipped"]:
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(summary["skipped"].items()))
        print(f"scene tiles skipped: {counts} (listed in {args.out}/skipped.csv)")
    if summary["unreadable"]:
        print(f"{len(summary['unreadable'])} unreadable files skipped (listed in {args.out}/unreadable.csv):")
        for path, reason in summary["unreadable"]:
            print(f"  {path}: {reason}")
    return 0


def _query(args):
    import pandas as pd

    from dove_keras.errors import UsageError
    from dove_keras.search import ImageIndex
    from dove_keras.search import Searcher

    if args.k < 1 or args.candidates < 1:
        raise UsageError("-k and --candidates must be >= 1")
    if args.attention and not args.sheet:
        raise UsageError("--attention draws on the contact sheet: give --sheet PNG too")
    if (args.to_wgs84 or args.merge_overlaps) and not args.geojson:
        raise UsageError("--to-wgs84 and --merge-overlaps shape the GeoJSON: give --geojson FILE too")
    index = ImageIndex(args.index)
    if args.geojson and not index.is_scenes:
        raise UsageError("--geojson, --to-wgs84 and --merge-overlaps need an index of scenes (--scenes)")
    searcher = Searcher(index, _encoder(args, index.header["model"]), use_faiss=args.faiss)
    results = searcher.search(args.text, k=args.k, candidates=args.candidates, rerank=args.rerank)
    shown = results.drop(columns=["row"])
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        shown.to_csv(args.csv, index=False)
    if args.geojson:
        from dove_keras.geo import write_csv
        from dove_keras.geo import write_geojson

        hits = _mappable_hits(searcher.geo_hits(results), args.to_wgs84)
        options = dict(to_wgs84=args.to_wgs84, merge_overlaps=args.merge_overlaps)
        write_geojson(args.geojson, hits, **options)
        table = write_csv(args.geojson.rsplit(".", 1)[0] + ".csv", hits, **options)
        print(f"wrote {args.geojson} and {table}")
    if args.sheet:
        from dove_keras.search.sheet import contact_sheet
        from dove_keras.search.sheet import result_pictures

        pictures = result_pictures(results, index)
        heat_maps = searcher.encoder.heat_maps(pictures, args.text) if args.attention else None
        contact_sheet(results, pictures, args.text, args.sheet, heat_maps)
        print(f"wrote {args.sheet}")
    return 0


def _mappable_hits(hits, to_wgs84):
    """The hits a GeoJSON can hold; with --to-wgs84 those of scenes without a CRS are listed and left out.

    Raises:
        UsageError: the hits span several CRSs without --to-wgs84, or none has a CRS with it.
    """
    from dove_keras.errors import UsageError

    crss = {hit.tile.crs for hit in hits}
    if not to_wgs84:
        if len(crss) > 1:
            raise UsageError(f"the hits come from scenes in {len(crss)} different CRSs (or without one): "
                             "pass --to-wgs84 to write the georeferenced ones in EPSG:4326 (lon, lat)")
        return hits
    located = [hit for hit in hits if hit.tile.crs]
    if not located:
        raise UsageError("no hit comes from a scene with a CRS: --to-wgs84 cannot place them; "
                         "leave it out to write pixel footprints")
    left_out = sorted({hit.tile.scene for hit in hits if not hit.tile.crs})
    if left_out:
        print(f"note: {len(hits) - len(located)} hit(s) from scenes without a CRS are not in the GeoJSON "
              f"(no position on Earth): {', '.join(left_out)}")
    return located
