"""Tiling throughput and peak memory of large GeoTIFF scenes (not a test).

Writes a synthetic uint8 RGB GeoTIFF mosaic (tiled 256 px blocks, DEFLATE,
16 distinct 1024 px scenes repeated) into a temporary folder, then reads every
tile of its grid as uint8 RGB with `dove_keras.geo.Scene.iter_tiles`; the same
for a scene with half the side (4x smaller by area). Each read runs in its own
process, so its peak resident memory (`ru_maxrss`) is its own and the two
sizes can be compared: it should not grow with the scene.

    python benchmarks/scene_tiling.py                     # 16384 px and 8192 px
    python benchmarks/scene_tiling.py --size 4096 --tile 256 --stride 128
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from dove_keras.backends import use_default_xla_flags

SCENE_SIZE = 1024
DISTINCT = 16


def _rss_mib():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write(path, size):
    """Runs in a child process: writes the mosaic."""
    from dove_keras.geo.synthetic_mosaic import write_mosaic

    side = size // SCENE_SIZE
    start = time.perf_counter()
    write_mosaic(path, grid=(side, side), scene_size=SCENE_SIZE, distinct=DISTINCT)
    return {"write_s": round(time.perf_counter() - start, 1),
            "file_mib": round(os.path.getsize(path) / 2**20, 1)}


def read(path, tile, stride):
    """Runs in a child process: reads every tile; returns the measurements."""
    from dove_keras.geo import Scene

    with Scene(path, tile_size=tile, stride=stride) as scene:
        width, height = scene.width, scene.height  # opens the file (imports rasterio)
        open_rss = _rss_mib()
        start = time.perf_counter()
        tiles = sum(image.shape == (tile, tile, 3) for _, image in scene.iter_tiles())
        seconds = time.perf_counter() - start
        skipped = dict(scene.skipped)
    return {"scene": f"{width} x {height}", "tile": tile, "stride": stride, "tiles": tiles,
            "skipped": skipped, "read_s": round(seconds, 1),
            "tiles_per_s": round(tiles / seconds, 1),
            "peak_rss_mib": _rss_mib(), "rss_after_open_mib": open_rss}


def _child(*args):
    command = [sys.executable, os.path.abspath(__file__), *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=16384,
                        help=f"side of the large scene in px, a multiple of {2 * SCENE_SIZE}")
    parser.add_argument("--tile", type=int, default=256, help="tile side (default 256)")
    parser.add_argument("--stride", type=int, default=None, help="tile stride (default: tile)")
    parser.add_argument("--child", choices=("write", "read"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "write":
        print(json.dumps(write(args.path, args.size)))
        return 0
    if args.child == "read":
        print(json.dumps(read(args.path, args.tile, args.stride or args.tile)))
        return 0
    if args.size % (2 * SCENE_SIZE):
        parser.error(f"--size must be a multiple of {2 * SCENE_SIZE}")
    with tempfile.TemporaryDirectory(prefix="scene_tiling_") as folder:
        for size in (args.size, args.size // 2):
            path = os.path.join(folder, f"scene_{size}.tif")
            written = _child("--child", "write", "--path", path, "--size", size)
            extra = ["--stride", args.stride] if args.stride else []
            result = _child("--child", "read", "--path", path, "--tile", args.tile, *extra)
            print(json.dumps({**result, **written}), flush=True)
            os.remove(path)
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
