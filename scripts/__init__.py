"""Developer entry points: the demo, the benchmarks and the process helpers."""
