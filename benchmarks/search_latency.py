"""Stage-1 query latency of `dove search`: exact top-k over random embeddings.

For each index size (default 10,000 and 100,000 unit vectors of 512 floats),
measures the latency of one text query (one vector against the whole index,
top 10) with:

1. NumPy exact search (`dove_keras.search.nearest.top_k`, the default of
   `dove search query`);
2. `keras.ops` on the current backend (`ops.matmul` + `ops.top_k`, the index
   held as a backend tensor);
3. faiss `IndexFlatIP` (exact), when the optional `faiss-cpu` is importable;

and prints median / p95 milliseconds and each method's median relative to
NumPy, all measured in this one run. Stage 2 (ROAM re-ranking of the
candidates) is not part of it: its cost depends on the model, not the index.

By default every library runs on one thread (`--threads 1`): on a shared
machine a second BLAS/OpenMP thread waits for a busy core and a 0.2 ms
product then takes a scheduler slice (~8 ms). `--threads 0` keeps the
libraries' defaults.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/search_latency.py [--sizes 10000 100000]
"""

import argparse
import os
import time

from dove_keras.backends import use_default_xla_flags

THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
)


def limit_threads(threads):
    """Sets the thread counts of BLAS, OpenMP (torch, faiss), TensorFlow and XLA.

    Must run before numpy and the backends are imported.
    """
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
    )


def measure(search, queries, warmup=3):
    """Per-query latencies (ms) of `search(query)`, after `warmup` untimed calls."""
    for query in queries[:warmup]:
        search(query)
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append((time.perf_counter() - start) * 1e3)
    return times


def methods(database, k):
    """`{name: search(query) -> row indices}` for the methods available here."""
    import keras
    from keras import ops

    from dove_keras.search import nearest

    found = {"numpy": lambda q: nearest.top_k(database, q[None], k)[1][0]}
    tensor = ops.convert_to_tensor(database)

    def keras_search(query):
        scores = ops.matmul(tensor, ops.convert_to_tensor(query))
        return ops.convert_to_numpy(ops.top_k(scores, k)[1])

    found[f"keras.ops ({keras.backend.backend()})"] = keras_search
    if nearest.faiss_available():
        index = nearest.FaissIndex(database)
        found["faiss IndexFlatIP"] = lambda q: index.top_k(q[None], k)[1][0]
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=50, help="timed queries per method")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument(
        "--threads", type=int, default=1, help="threads of every library (0: their defaults)"
    )
    args = parser.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    import keras
    import numpy as np

    from dove_keras.search import nearest

    rng = np.random.default_rng(0)
    threads = args.threads or "library default"
    print(f"backend {keras.backend.backend()}, threads: {threads}, d={args.dim}, k={args.k}, "
          f"{args.queries} queries")
    print("| index size | method | median ms | p95 ms | vs numpy |")
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        database = nearest.normalize_rows(rng.standard_normal((size, args.dim), dtype=np.float32))
        queries = nearest.normalize_rows(rng.standard_normal((args.queries, args.dim), dtype=np.float32))
        found = methods(database, args.k)
        reference = [set(found["numpy"](q).tolist()) for q in queries[:5]]
        medians = {}
        for name, search in found.items():
            for query, expected in zip(queries[:5], reference):
                assert set(np.asarray(search(query)).tolist()) == expected, f"{name}: other results"
            times = measure(search, queries)
            medians[name] = np.median(times)
            print(
                f"| {size:,} | {name} | {medians[name]:.2f} | {np.percentile(times, 95):.2f} "
                f"| {medians[name] / medians['numpy']:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    raise SystemExit(main())
