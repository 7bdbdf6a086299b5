#!/usr/bin/env python3
"""Way (g) of bench/run.py: the jq filter of way (e), written in DuckDB's SQL.

    VENV/bin/python bench/duckdb_way.py --jobs N --level L < LIST

LIST holds NUL-separated pairs of paths, input then output, as for way (e):
each input is a CloudTrail log file (gzipped `{"Records":[...]}`), each output
becomes that file's records as gzipped NDJSON, those of iam.amazonaws.com
with "xpriority":"HIGH" added. Files are spread over N worker processes (one
DuckDB connection each, `SET threads=1`); with --jobs 1 the files are done
one after the other in this process. run.py runs this script under the
Python of a virtualenv holding `duckdb` (bench/work/venv).

For each file, as in the jq way, `gzip -dc IN` feeds DuckDB through a pipe
and DuckDB writes into a pipe to `gzip -L > OUT`. DuckDB reads the file as
one text (read_text), takes its records as a list of JSON values
(json_extract on '$.Records[*]', so every record keeps all its fields as
they are), adds the field to those of IAM (json_merge_patch, which puts it
last, as jq's `+` does), and COPY writes one JSON text per line (CSV with
no quoting and no header: a JSON text holds no raw newline).

Why not DuckDB alone: read_text does not decompress, and read_json (which
does) takes 5 to 6 times longer to give the same records as JSON values;
DuckDB can write gzip, but not at a chosen level.
"""

import argparse
import os
import subprocess
import sys

SQL = """COPY (
  SELECT CASE WHEN r->>'eventSource' = 'iam.amazonaws.com'
              THEN json_merge_patch(r, '{{"xpriority":"HIGH"}}')
              ELSE r END
  FROM (SELECT unnest(json_extract(content, '$.Records[*]')) AS r FROM read_text({src}))
) TO {dst} (FORMAT csv, HEADER false, QUOTE '', ESCAPE '')"""

_con = None
_level = 1


def sql_string(s):
    return "'" + s.replace("'", "''") + "'"


def statement(src, dst):
    """The statement for one file (docs/benchmark.md shows it)."""
    return SQL.format(src=sql_string(src), dst=sql_string(dst))


def init(level):
    global _con, _level
    import duckdb
    _con = duckdb.connect()
    _con.execute("SET threads = 1")
    _con.execute("SET preserve_insertion_order = true")
    _level = level


def one(pair):
    """gzip -dc SRC | DuckDB | gzip -L > DST, DuckDB reading and writing
    the pipes by their /dev/fd names."""
    src, dst = pair
    with open(dst, "wb") as out:
        unzip = subprocess.Popen(["gzip", "-dc", src], stdout=subprocess.PIPE)
        zip_ = subprocess.Popen(["gzip", "-%d" % _level], stdin=subprocess.PIPE, stdout=out)
        try:
            _con.execute(statement("/dev/fd/%d" % unzip.stdout.fileno(), "/dev/fd/%d" % zip_.stdin.fileno()))
        finally:
            unzip.stdout.close()
            zip_.stdin.close()
            rcs = unzip.wait(), zip_.wait()
    if rcs != (0, 0):
        raise RuntimeError("gzip -dc exited with %d, gzip -%d with %d, for %s" % (rcs[0], _level, rcs[1], src))
    return src


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--level", type=int, default=1, help="gzip level of the outputs (default 1)")
    args = ap.parse_args()
    parts = sys.stdin.buffer.read().split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    if len(parts) % 2:
        sys.exit("duckdb_way.py: the list on standard input must hold pairs of paths")
    pairs = [(os.fsdecode(parts[i]), os.fsdecode(parts[i + 1])) for i in range(0, len(parts), 2)]
    try:
        if args.jobs <= 1:
            init(args.level)
            for p in pairs:
                one(p)
        else:
            import multiprocessing
            # Fork before duckdb is imported: each worker imports it and
            # opens its own connection.
            ctx = multiprocessing.get_context("fork")
            pool = ctx.Pool(args.jobs, initializer=init, initargs=(args.level,))
            try:
                for _ in pool.imap_unordered(one, pairs, chunksize=1):
                    pass
                pool.close()
            except BaseException:
                pool.terminate()
                raise
            finally:
                pool.join()
    except Exception as e:  # noqa: BLE001 - the harness shows standard error
        sys.exit("duckdb_way.py: %s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main()
