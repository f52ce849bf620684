"""`make bench`: how fast and how big the pipeline runs at scale. A benchmark, not a test.

For each scale (customers) it generates data with the project's own generator (cached per scale and
seed under BENCH_DIR, default /tmp/crm-bench), then measures in child processes on this machine:

1. the full build: the nightly Dagster job, as `make run` runs it, into a new warehouse (landing, GX
   suites, the segment catalogue, one dbt build, syncs, the published copy, the report), with its peak
   memory and where the time goes (each step of the job; dbt's start-up/parse and each heavy node);
2. the nightly run: the same job with one more day of data (the next as-of date on the same raw
   folder), on the same warehouse;
3. RFM side by side on the same data and as-of date: the project's `marts.customer_rfm`, the pandas
   way (PyMC-Marketing's `rfm_summary` and a plain group-by) and one hand-written DuckDB query, and
   checks that all three agree on every customer's frequency and monetary value;
4. the sync diff for a 1% membership change;
5. the segment report (`make report`) on the nightly warehouse: build time and page size.

A step that fails or passes its timeout is recorded (time, peak memory, how far dbt got) and the steps
that need it are skipped; if the pipeline did not finish, `marts.customer_rfm` alone is built so the
RFM comparison still runs at that scale.

Results go to BENCHMARKS.md (see bench/report.py). `python -m bench --help` lists the options.
"""
