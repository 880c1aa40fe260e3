"""Benchmarks (`make bench`, `python -m bench [identity|receipts|events|gateway]`).

Absolute numbers on a 2-core machine are noisy, so every figure is measured in interleaved
rounds next to a ceiling (figure, ceiling, figure, ceiling, ...) and reported as the median
ratio with its min and max. `bench.rounds` is the method, `bench.common` the shared pieces,
`bench.report` the terminal table and summary file; see docs/decisions.md (Benchmarks).

Settings: BENCH_ROUNDS (3), BENCH_DURATION_S (10), BENCH_WARMUP_S (2), BENCH_CONCURRENCY
(64), BENCH_RECEIPT_HISTORY (1,000,000), BENCH_REPORT_CALLS (200), BENCH_EVENTS (20,000);
BENCH_QUICK=1 makes each short. The seeded receipts history is kept under bench/.cache:
delete that folder to seed again.
"""
