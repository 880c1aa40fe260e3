"""Benchmarks (`make bench`): each prints one JSON line and writes it under bench/results/.

Absolute numbers on a 2-core machine are noisy, so every figure is reported next to a
ceiling measured in the same run (a bare grpc.aio echo server under the same load
generator), and targets are ratios against it.
"""
