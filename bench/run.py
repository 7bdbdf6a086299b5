#!/usr/bin/env python3
"""The ctrules benchmark (issue 5): one command, docs/benchmark.md explains it.

    python3 bench/run.py                 # default: 80 MB of raw JSON, 3 repetitions
    python3 bench/run.py --smoke         # CI-sized: 3 MB, 1 repetition, 12 MB single file
    python3 bench/run.py --big-mb 1000   # memory check on a 1 GB single file

Builds ctrules and the baselines (release), generates the corpus and the
1,000 rules (seeded, cached under --workdir), then measures on the same
input, on one core and on all cores, the median of --reps runs of:

  a  limit   gunzip + gzip the same bytes, no parsing (ctrules-bench limit)
  b  naive   gunzip, parse to serde_json::Value, serialize, gzip (ctrules-bench naive)
  c  ctrules `ctrules run` with the shipped rules.d
  d  ctrules `ctrules run` with 1,000 generated rules
  e  jq      gzip -dc | jq -c '<the IAM rule>' | gzip, file by file (xargs -P)
  f  jaq     the same pipeline and filter with jaq (skipped when not installed)
  g  DuckDB  the same filter in SQL, one DuckDB per file, N worker processes
             (bench/duckdb_way.py; skipped when not installed)
  n  ctrules `ctrules run` with no rules (informational: the cost of the
             pipeline itself, reading, splicing and writing)

with peak memory (max RSS of the process tree) of each, then checks memory
on one large file. Prints the tables and writes them as JSON.

jaq and DuckDB are peers, not requirements: a way whose tool is missing is
shown as skipped. --install-peers installs them (cargo install jaq --locked;
pip install duckdb into WORKDIR/venv).
"""

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_corpus  # noqa: E402

MMDB = os.path.join(REPO, "tests", "fixtures", "mmdb", "GeoIP2-Country-Test.mmdb")
JQ_FILTER = '.Records[] | if .eventSource == "iam.amazonaws.com" then . + {xpriority: "HIGH"} else . end'
CONFIGS = {
    "a": "limit: gunzip+gzip",
    "b": "naive: serde_json::Value",
    "n": "ctrules, no rules",
    "c": "ctrules, rules.d",
    "d": "ctrules, 1000 rules",
    "e": "jq + gzip",
    "f": "jaq + gzip",
    "g": "DuckDB + gzip",
}
# The ways that apply the jq filter (or its SQL) and write NDJSON lines.
FILTER_WAYS = ("e", "f", "g")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --- measuring -------------------------------------------------------------------

def cpu_busy_ticks():
    """(busy, steal) clock ticks of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
        v = [int(x) for x in parts]
        user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
        return user + nice + system + irq + softirq + steal, steal
    except OSError:
        return None, None


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def measure(cmd, cwd=REPO, stdin=None, env=None, discard_stdout=False):
    """Runs cmd; returns wall time, CPU time and peak RSS of the process tree.

    The peak RSS is ru_maxrss of the child as its parent's wait4 sees it: the
    largest resident set of the child and of every descendant it waited for
    (the largest single process, not a sum of processes running at the same
    time). The command runs under GNU time, a small process, because Linux
    counts the resident set a child had before exec: a child forked from
    this Python process would start at Python's size."""
    hz = os.sysconf("SC_CLK_TCK")
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    rss_file = tempfile.NamedTemporaryFile(prefix="ctbench-rss-", delete=False)
    rss_file.close()
    full = ([GNU_TIME, "-o", rss_file.name, "-f", "%M"] + cmd) if GNU_TIME else cmd
    busy0, steal0 = cpu_busy_ticks()
    t0 = time.perf_counter()
    p = subprocess.Popen(full, cwd=cwd, stdin=stdin, stdout=subprocess.DEVNULL if discard_stdout else out,
                         stderr=err, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    busy1, steal1 = cpu_busy_ticks()
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    cpu = ru.ru_utime + ru.ru_stime
    maxrss = ru.ru_maxrss
    if GNU_TIME:
        with open(rss_file.name) as f:
            lines = [line for line in f.read().split("\n") if line.strip()]
        try:
            maxrss = int(lines[-1])
        except (IndexError, ValueError):
            pass
    os.unlink(rss_file.name)
    r = {
        "wall_s": wall,
        "cpu_s": cpu,
        "maxrss_kb": maxrss,
        "rc": p.returncode,
        "stdout": out.read().decode(errors="replace"),
        "stderr": err.read().decode(errors="replace")[-4000:],
    }
    if busy0 is not None:
        # CPU that other processes on the machine used while this ran, in cores.
        r["other_load"] = max(0.0, ((busy1 - busy0) / hz - cpu) / wall)
        r["steal"] = (steal1 - steal0) / hz / wall
    return r


# --- preparation -----------------------------------------------------------------

def build(args):
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    if not args.no_build:
        log("== cargo build --release -p ctrules -p ctrules-bench")
        subprocess.run(["cargo", "build", "--release", "-p", "ctrules", "-p", "ctrules-bench"],
                       cwd=REPO, check=True)
    # The target directory may be shared with other builds: take a copy of
    # the binaries so that every measurement runs the same ones.
    bindir = os.path.join(args.workdir, "bin")
    os.makedirs(bindir, exist_ok=True)
    bins = {}
    for name in ("ctrules", "ctrules-bench"):
        src = os.path.join(target, "release", name)
        if not os.path.exists(src):
            sys.exit("error: %s not found (build failed, or CARGO_TARGET_DIR differs)" % src)
        dst = os.path.join(bindir, name)
        shutil.copy2(src, dst)
        bins[name] = dst
    return bins


def git_info():
    def run(*c):
        try:
            return subprocess.run(c, cwd=REPO, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    return {"commit": run("git", "rev-parse", "--short=12", "HEAD"),
            "dirty": bool(run("git", "status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock", "rules.d"))}


def machine_info():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.1f GB" % (int(f.readline().split()[1]) / 1e6)
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    jq = subprocess.run(["jq", "--version"], capture_output=True, text=True).stdout.strip() if shutil.which("jq") else None
    gz = subprocess.run(["gzip", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "kernel": platform.release(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "rustc": rustc,
            "jq": jq, "gzip": gz, "loadavg_at_start": os.getloadavg()}


def corpus(args):
    d = os.path.join(args.workdir, "corpus-s%d-%gmb-v%d" % (args.seed, args.raw_mb, gen_corpus.GENERATOR_VERSION))
    mf = os.path.join(d, ".manifest.json")
    if not os.path.exists(mf):
        log("== generating the corpus: %g MB of raw JSON, seed %d -> %s" % (args.raw_mb, args.seed, d))
        shutil.rmtree(d, ignore_errors=True)
        tmp = d + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        gen_corpus.gen_tree(tmp, args.raw_mb, args.seed)
        os.rename(tmp, d)
    with open(mf) as f:
        m = json.load(f)
    return d, m


def big_file(args, mb):
    path = os.path.join(args.workdir, "big-s%d-%gmb-v%d.json.gz" % (args.seed, mb, gen_corpus.GENERATOR_VERSION))
    info = path + ".info.json"
    if not os.path.exists(info):
        log("== generating one file of %g MB of raw JSON -> %s" % (mb, path))
        gen_corpus.gen_single(path, mb, args.seed)
    with open(info) as f:
        return path, json.load(f)


def rules(args, ctrules):
    d = os.path.join(args.workdir, "rules-%d-s%d" % (args.rules, args.seed))
    subprocess.run([sys.executable, os.path.join(HERE, "gen_rules.py"), "--out", d, "--rules", str(args.rules),
                    "--seed", str(args.seed)], check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run([ctrules, "check", "--deny-warnings", "--format", "json", d], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("error: ctrules check rejects the generated rules:\n" + r.stdout[-3000:] + r.stderr[-2000:])
    return d, json.loads(r.stdout)


# --- the peers (jq, jaq, DuckDB) -------------------------------------------------

def version_of(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (r.stdout.strip() or r.stderr.strip()).split("\n")[0] if r.returncode == 0 else None


def cargo_bin_dirs():
    dirs = []
    if os.environ.get("CARGO_HOME"):
        dirs.append(os.path.join(os.environ["CARGO_HOME"], "bin"))
    dirs.append(os.path.join(os.path.expanduser("~"), ".cargo", "bin"))
    return dirs


def find_jaq(args, install):
    """jaq: --jaq, else on PATH, else in ~/.cargo/bin; with --install-peers,
    `cargo install jaq --locked` when it is in none of them. Returns
    (path, version) or (None, why it is skipped)."""
    def look():
        if args.jaq:
            return args.jaq if os.access(args.jaq, os.X_OK) else None
        found = shutil.which("jaq")
        if found:
            return found
        for d in cargo_bin_dirs():
            if os.access(os.path.join(d, "jaq"), os.X_OK):
                return os.path.join(d, "jaq")
        return None

    path = look()
    if not path and install and not args.jaq:
        log("== cargo install jaq --locked (--install-peers)")
        r = subprocess.run(["cargo", "install", "jaq", "--locked"], stdout=sys.stderr)
        if r.returncode != 0:
            log("warning: cargo install jaq failed (%d): (f) is skipped" % r.returncode)
            return None, "jaq not installed (cargo install jaq failed)"
        path = look()
    if not path:
        why = "jaq not found at %s" % args.jaq if args.jaq else "jaq not installed"
        return None, why + (" (--install-peers installs it)" if not install and not args.jaq else "")
    version = version_of([path, "--version"])
    if not version:
        return None, "%s does not run" % path
    return path, version


def find_duckdb(args):
    """DuckDB's Python package in the virtualenv --duckdb-venv (default
    WORKDIR/venv); with --install-peers, the virtualenv is made with
    `python3 -m venv` and `pip install duckdb` when it lacks duckdb. Returns
    (python, version) or (None, why it is skipped)."""
    venv = os.path.abspath(args.duckdb_venv or os.path.join(args.workdir, "venv"))
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import duckdb; print(duckdb.__version__)"]

    def version():
        return version_of(probe) if os.access(python, os.X_OK) else None

    v = version()
    if not v and args.install_peers:
        log("== pip install duckdb into %s (--install-peers)" % venv)
        if not os.access(python, os.X_OK):
            r = subprocess.run([sys.executable, "-m", "venv", venv], stdout=sys.stderr)
            if r.returncode != 0:
                return None, "DuckDB not installed (python3 -m venv %s failed)" % venv
        r = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
                            "duckdb"], stdout=sys.stderr)
        if r.returncode != 0:
            return None, "DuckDB not installed (pip install duckdb failed)"
        v = version()
    if not v:
        return None, "DuckDB not installed in %s%s" % (
            venv, " (--install-peers installs it)" if not args.install_peers else "")
    return python, "DuckDB " + v


def find_peers(args, only):
    """The tools of (e), (f) and (g) that are wanted: {cfg: path} for those
    found, {cfg: reason} for those skipped, and their versions."""
    tools, skipped, versions = {}, {}, {}
    finders = {
        "e": lambda: (shutil.which("jq"), version_of(["jq", "--version"])) if shutil.which("jq")
        else (None, "jq not installed"),
        "f": lambda: find_jaq(args, args.install_peers),
        "g": lambda: find_duckdb(args),
    }
    for cfg in FILTER_WAYS:
        if cfg not in only:
            continue
        path, info = finders[cfg]()
        if path:
            tools[cfg], versions[cfg] = path, info
        else:
            skipped[cfg] = info
            log("warning: (%s) %s is skipped: %s" % (cfg, CONFIGS[cfg], info))
    return tools, skipped, versions


# --- the output reference ---------------------------------------------------------

# Digests of what ctrules wrote for (n), (c) and (d) on the default corpora,
# from the build before issue 15's speed-ups: a speed-up must not change one
# byte of the output. Keyed by corpus, way, rules and GeoIP database.
REFERENCE = os.path.join(HERE, "expected-output.json")


def output_digest(out_dir):
    """SHA-256 over every output file's relative path and decompressed bytes, in name order."""
    h = hashlib.sha256()
    names = []
    for root, _, files in os.walk(out_dir):
        names.extend(os.path.relpath(os.path.join(root, f), out_dir) for f in files)
    for name in sorted(names):
        h.update(name.encode() + b"\0")
        with gzip.open(os.path.join(out_dir, name), "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def reference_key(args, cfg):
    rules = {"n": "none", "c": "rules.d", "d": "generated-%d-s%d" % (args.rules, args.seed)}[cfg]
    return "corpus-s%d-%gmb-v%d level %d, way %s, rules %s" % (
        args.seed, args.raw_mb, gen_corpus.GENERATOR_VERSION, args.level, cfg, rules)


# --- the ways --------------------------------------------------------------------

class Runner:
    def __init__(self, args, bins, corpus_dir, manifest, rules_dir, tools=None):
        self.args = args
        self.bins = bins
        self.tools = tools or {}
        self.corpus = corpus_dir
        self.manifest = manifest
        self.rules_dir = rules_dir
        # Per way: what the output check against the reference found.
        self.reference = {}
        self.out = os.path.join(args.workdir, "out")
        self.no_rules = os.path.join(args.workdir, "rules-none")
        os.makedirs(self.no_rules, exist_ok=True)
        self.jq_list = os.path.join(args.workdir, "jq-files.list")
        with open(self.jq_list, "wb") as f:
            for i, fl in enumerate(manifest["file_list"]):
                f.write(os.path.join(corpus_dir, fl["path"]).encode() + b"\0")
                f.write(os.path.join(self.out, "%05d.ndjson.gz" % i).encode() + b"\0")

    def command(self, cfg, jobs, input_path=None):
        a = self.args
        inp = input_path or self.corpus
        level = str(a.level)
        if cfg in ("a", "b"):
            return [self.bins["ctrules-bench"], "limit" if cfg == "a" else "naive", "--input", inp,
                    "--output", self.out, "--jobs", str(jobs), "--compression-level", level], None
        if cfg in ("c", "d", "n"):
            rules_dir = {"c": os.path.join(REPO, "rules.d"), "d": self.rules_dir, "n": self.no_rules}[cfg]
            return [self.bins["ctrules"], "run", "--rules", rules_dir, "--geoip", MMDB, "--input", inp,
                    "--output", self.out, "--jobs", str(jobs), "--compression-level", level, "-q",
                    "--summary-json", os.path.join(a.workdir, "summary.json")], None
        if cfg == "g":
            # One DuckDB per worker process, each on one thread: the same
            # list of (input, output) pairs as jq's.
            return [self.tools["g"], os.path.join(HERE, "duckdb_way.py"), "--jobs", str(jobs), "--level", level], \
                self.jq_list
        # (e) jq and (f) jaq: the same filter in the same pipeline.
        script = ('set -o pipefail; gzip -dc "$1" | "$CT_JQ" -c "$CT_JQ_FILTER" | gzip -%s > "$2"' % level)
        return ["xargs", "-0", "-n", "2", "-P", str(jobs), "bash", "-c", script, "_"], self.jq_list

    def run(self, cfg, jobs, input_path=None, verify=False):
        shutil.rmtree(self.out, ignore_errors=True)
        os.makedirs(self.out)
        cmd, stdin_path = self.command(cfg, jobs, input_path)
        env = dict(os.environ, CT_JQ_FILTER=JQ_FILTER, CT_JQ=self.tools.get(cfg, ""), LC_ALL="C")
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        try:
            r = measure(cmd, stdin=stdin, env=env)
        finally:
            if stdin_path:
                stdin.close()
        if r["rc"] != 0:
            sys.exit("error: %s (jobs %d) exited with %d:\n%s\n%s" % (CONFIGS[cfg], jobs, r["rc"], " ".join(cmd),
                                                                     r["stderr"]))
        if verify:
            self.verify(cfg, r)
        r.pop("stdout")
        r.pop("stderr")
        return r

    def verify(self, cfg, r):
        """The work was really done: every event (or byte) went through."""
        m = self.manifest
        if cfg in ("a", "b"):
            rep = json.loads(r["stdout"])
            assert rep["failed"] == 0 and rep["files"] == m["files"], rep
            assert rep["bytes_raw"] == m["raw_bytes"], (rep, m["raw_bytes"])
            if cfg == "b":
                assert rep["records"] == m["events"], rep
        elif cfg in ("c", "d", "n"):
            with open(os.path.join(self.args.workdir, "summary.json")) as f:
                s = json.load(f)
            assert s["files_processed"] == m["files"] and s["files_failed"] == 0, s
            assert s["events_in"] == m["events"] and s["events_out"] == m["events"], s
            self.check_reference(cfg)
        else:
            lines = 0
            names = os.listdir(self.out)
            assert len(names) == m["files"], (len(names), m["files"])
            for name in names:
                with gzip.open(os.path.join(self.out, name), "rb") as f:
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        lines += chunk.count(b"\n")
            assert lines == m["events"], (lines, m["events"])
            self.spot_check(cfg)

    def check_reference(self, cfg):
        """The output is byte for byte the reference's (when there is one
        for this corpus; `--write-reference` records it)."""
        key = reference_key(self.args, cfg)
        digest = output_digest(self.out)
        refs = {}
        if os.path.exists(REFERENCE):
            with open(REFERENCE) as f:
                refs = json.load(f)
        if self.args.write_reference:
            refs[key] = digest
            with open(REFERENCE, "w") as f:
                json.dump(refs, f, indent=1, sort_keys=True)
                f.write("\n")
            self.reference[cfg] = "recorded"
        elif key not in refs:
            self.reference[cfg] = "no reference for this corpus"
        elif refs[key] != digest:
            sys.exit("error: %s wrote other bytes than the reference (%s): a change altered the output"
                     % (CONFIGS[cfg], key))
        else:
            self.reference[cfg] = "identical"

    def spot_check(self, cfg, count=2):
        """The filter did what it says on `count` files (the largest and the
        smallest): the output's records, parsed, are the input's records with
        "xpriority":"HIGH" added to those of iam.amazonaws.com and to no
        other, in the same order. Key order and the spelling of numbers are
        ignored (jq 1.6 writes 123123123123.0 as 123123123123; every number
        is compared as a double)."""
        def load(text):
            return json.loads(text, parse_int=float, parse_float=float)

        files = sorted(enumerate(self.manifest["file_list"]), key=lambda x: x[1]["raw_bytes"])
        picked = [files[-1]] + files[:max(0, count - 1)]
        iam = 0
        for i, fl in picked:
            with gzip.open(os.path.join(self.corpus, fl["path"]), "rt", encoding="utf-8") as f:
                expected = load(f.read())["Records"]
            for rec in expected:
                if rec.get("eventSource") == "iam.amazonaws.com":
                    rec["xpriority"] = "HIGH"
                    iam += 1
            with gzip.open(os.path.join(self.out, "%05d.ndjson.gz" % i), "rt", encoding="utf-8") as f:
                got = [load(line) for line in f]
            assert len(got) == len(expected), (cfg, fl["path"], len(got), len(expected))
            for n, (g, e) in enumerate(zip(got, expected)):
                assert g == e, "%s: record %d of %s differs from the filter's result" % (CONFIGS[cfg], n, fl["path"])
        assert iam > 0, "the spot-check files hold no IAM event"


# --- results ---------------------------------------------------------------------

def summarize(runs, manifest):
    walls = [r["wall_s"] for r in runs]
    wall = statistics.median(walls)
    return {
        "reps": len(runs),
        "wall_s": wall,
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "spread": (max(walls) - min(walls)) / wall if wall else 0.0,
        "events_per_s": manifest["events"] / wall,
        "mb_per_s_gz": manifest["gz_bytes"] / 1e6 / wall,
        "mb_per_s_raw": manifest["raw_bytes"] / 1e6 / wall,
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "peak_rss_mb": max(r["maxrss_kb"] for r in runs) / 1024,
        "other_load": statistics.median(r.get("other_load", 0.0) for r in runs),
        "other_load_max": max(r.get("other_load", 0.0) for r in runs),
        "steal": statistics.median(r.get("steal", 0.0) for r in runs),
        "runs": runs,
    }


def ratio_rows(res, all_jobs):
    def tp(cfg, j):
        x = res.get(cfg, {}).get(j)
        return x["mb_per_s_raw"] if x else None

    rows = []

    def add(name, num, den, target, jobs, is_target):
        n, d_ = tp(num, jobs), tp(den, jobs)
        if n is None or d_ is None:
            return
        v = n / d_
        rows.append({"ratio": name, "jobs": jobs, "value": v, "target": target,
                     "met": (v >= target) if is_target and target else None})

    # The targets of issue 15 (one core): (n)/(a) >= 0.85, (c)/(a) >= 0.6,
    # (d)/(c) >= 0.7, and two cores >= 1.85 x one for (c) and (d). Issue 5's
    # (c)/(b) >= 2 and (c)/(e) >= 20 stay as targets too.
    for j in (1, all_jobs):
        one = j == 1
        add("(n)/(a) ctrules without rules vs limit", "n", "a", 0.85, j, one)
        add("(c)/(a) ctrules vs limit", "c", "a", 0.6, j, one)
        add("(c)/(b) ctrules vs naive", "c", "b", 2.0, j, one)
        add("(d)/(c) 1000 rules vs rules.d", "d", "c", 0.7, j, one)
        add("(c)/(e) ctrules vs jq", "c", "e", 20.0, j, not one)
        add("(c)/(f) ctrules vs jaq", "c", "f", 0, j, False)
        add("(c)/(g) ctrules vs DuckDB", "c", "g", 0, j, False)
        # What the limit itself reaches: no enrichment can beat these.
        add("(a)/(b) limit vs naive: ceiling of (c)/(b)", "a", "b", 0, j, False)
        add("(a)/(e) limit vs jq: ceiling of (c)/(e)", "a", "e", 0, j, False)
        add("(a)/(f) limit vs jaq: ceiling of (c)/(f)", "a", "f", 0, j, False)
        add("(a)/(g) limit vs DuckDB: ceiling of (c)/(g)", "a", "g", 0, j, False)
    if all_jobs > 1:
        for cfg in CONFIGS:
            if cfg in res and 1 in res[cfg] and all_jobs in res[cfg]:
                v = res[cfg][all_jobs]["mb_per_s_raw"] / res[cfg][1]["mb_per_s_raw"]
                rows.append({"ratio": "(%s) %d cores / 1 core" % (cfg, all_jobs), "jobs": all_jobs, "value": v,
                             "target": 1.85, "met": (v >= 1.85) if cfg in ("c", "d") else None})
    return rows


def memory_check(args, runner):
    """Peak RSS of ctrules on one large file, and on few files against many."""
    out = {}
    if args.big_mb <= 0:
        return out
    small_mb = max(1.0, round(args.big_mb / 8, 1))
    big, big_info = big_file(args, args.big_mb)
    small, small_info = big_file(args, small_mb)
    rows = []
    for label, path, info in (("small", small, small_info), ("big", big, big_info)):
        for cfg in ("c", "a", "b"):
            if cfg == "b" and info["raw_bytes"] > args.naive_big_limit_mb * 1e6:
                rows.append({"file": label, "config": cfg, "skipped": "naive holds the whole file in memory; "
                             "raise --naive-big-limit-mb to run it"})
                continue
            log("   %s on the %s file (%.0f MB raw), 1 job" % (CONFIGS[cfg], label, info["raw_bytes"] / 1e6))
            r = runner.run(cfg, 1, input_path=path)
            rows.append({"file": label, "config": cfg, "raw_mb": info["raw_bytes"] / 1e6, "events": info["events"],
                         "wall_s": r["wall_s"], "mb_per_s_raw": info["raw_bytes"] / 1e6 / r["wall_s"],
                         "peak_rss_mb": r["maxrss_kb"] / 1024})
    out["single_file"] = rows

    def rss(label, cfg):
        for r in rows:
            if r["file"] == label and r["config"] == cfg and "peak_rss_mb" in r:
                return r["peak_rss_mb"]
        return None

    # Standard output: each file's output waits for its turn in a spill
    # (8 MB in memory, the rest on disk), so memory is bounded here too.
    stdout_rows = []
    for label, path, info in (("small", small, small_info), ("big", big, big_info)):
        log("   ctrules rules.d to standard output on the %s file, 1 job" % label)
        cmd = [runner.bins["ctrules"], "run", "--rules", os.path.join(REPO, "rules.d"), "--geoip", MMDB,
               "--input", path, "--output", "-", "--jobs", "1", "-q"]
        r = measure(cmd, discard_stdout=True)
        if r["rc"] != 0:
            sys.exit("error: %s failed (%d): %s" % (" ".join(cmd), r["rc"], r["stderr"]))
        stdout_rows.append({"file": label, "peak_rss_mb": r["maxrss_kb"] / 1024, "wall_s": r["wall_s"]})
    out["stdout"] = {
        "ctrules_small_rss_mb": stdout_rows[0]["peak_rss_mb"], "ctrules_big_rss_mb": stdout_rows[1]["peak_rss_mb"],
        "rule": "big <= 1.25 x small + 8 MB",
        "met": stdout_rows[1]["peak_rss_mb"] <= 1.25 * stdout_rows[0]["peak_rss_mb"] + 8}

    s, b = rss("small", "c"), rss("big", "c")
    out["single_file_bounded"] = {
        "ctrules_small_rss_mb": s, "ctrules_big_rss_mb": b,
        "rule": "big <= 1.25 x small + 8 MB (the file is %.0fx larger)" % (big_info["raw_bytes"] / small_info["raw_bytes"]),
        "met": b <= 1.25 * s + 8}
    # Few files against the whole corpus, one job: the number of files should not matter.
    few = os.path.join(args.workdir, "few-files")
    shutil.rmtree(few, ignore_errors=True)
    os.makedirs(few)
    for i, fl in enumerate(runner.manifest["file_list"][:3]):
        os.symlink(os.path.join(runner.corpus, fl["path"]), os.path.join(few, "%d.json.gz" % i))
    r_few = runner.run("c", 1, input_path=few)
    r_all = runner.run("c", 1)
    biggest = max(f["raw_bytes"] for f in runner.manifest["file_list"])
    out["files_count"] = {
        "ctrules_3_files_rss_mb": r_few["maxrss_kb"] / 1024,
        "ctrules_all_files_rss_mb": r_all["maxrss_kb"] / 1024,
        "files": runner.manifest["files"], "largest_file_raw_mb": biggest / 1e6,
        "rule": "all files <= 1.25 x 3 files + 8 MB",
        "met": r_all["maxrss_kb"] / 1024 <= 1.25 * r_few["maxrss_kb"] / 1024 + 8}
    return out


def s3_check(args, runner):
    """ctrules rules.d over the corpus from a real S3 server on loopback (moto)
    against the same objects read locally: objects/s and events/s, and a rerun
    with --state (every object done before)."""
    import socket
    import urllib.request
    moto = subprocess.run([os.path.join(REPO, "tools", "moto.sh")], capture_output=True, text=True, check=True).stdout.strip()
    venv_python = os.path.join(os.path.dirname(moto), "python")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = "http://127.0.0.1:%d" % port
    # Dummy credentials and no instance metadata: nothing leaves the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    log_path = os.path.join(args.workdir, "moto.log")
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], env=env,
                              stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        upload = ("import boto3, os, sys\n"
                  "s3 = boto3.client('s3', endpoint_url=sys.argv[1])\n"
                  "s3.create_bucket(Bucket='bench')\n"
                  "root = sys.argv[2]\n"
                  "for d, _, files in os.walk(root):\n"
                  "    files[:] = [f for f in files if not f.startswith('.')]\n"
                  "    for f in files:\n"
                  "        p = os.path.join(d, f)\n"
                  "        s3.upload_file(p, 'bench', 'AWSLogs/' + os.path.relpath(p, root))\n")
        subprocess.run([venv_python, "-c", upload, endpoint, runner.corpus], env=env, check=True)
        objects = runner.manifest["files"]
        events = runner.manifest["events"]
        common = [runner.bins["ctrules"], "run", "-q", "--rules", os.path.join(REPO, "rules.d"), "--geoip", MMDB,
                  "--compression-level", str(args.level), "--endpoint-url", endpoint]
        rows = []

        def one(label, extra, out):
            shutil.rmtree(runner.out, ignore_errors=True)
            r = measure(common + extra + ["--output", out], env=env)
            if r["rc"] != 0:
                sys.exit("error: %s failed (%d): %s" % (label, r["rc"], r["stderr"]))
            rows.append({"way": label, "wall_s": r["wall_s"], "objects_per_s": objects / r["wall_s"],
                         "events_per_s": events / r["wall_s"], "peak_rss_mb": r["maxrss_kb"] / 1024})
            log("   %-40s %6.2f s  %7.1f objects/s  %9.0f events/s" % (label, r["wall_s"], objects / r["wall_s"],
                                                                     events / r["wall_s"]))

        one("local to local", ["--input", runner.corpus], runner.out)
        one("S3 to local", ["--input", "s3://bench/AWSLogs/"], runner.out)
        one("S3 to S3", ["--input", "s3://bench/AWSLogs/"], "s3://bench/processed/")
        state = os.path.join(args.workdir, "s3-state.redb")
        if os.path.exists(state):
            os.unlink(state)
        one("S3 to S3, --state, first run", ["--input", "s3://bench/AWSLogs/", "--state", state], "s3://bench/p2/")
        one("S3 to S3, --state, rerun (all done)", ["--input", "s3://bench/AWSLogs/", "--state", state], "s3://bench/p2/")
        return {"objects": objects, "events": events, "rows": rows,
                "server": "moto (Python, on loopback): it bounds S3 throughput here, not ctrules"}
    finally:
        server.terminate()
        server.wait()


# The questions of the query rows, and jq's way to ask them (jaq takes the same filters).
QUERY_WHERE = 'eventName like "Create*" and eventName != "CreateLogStream"'
JQ_SELECT = '.Records[] | select((.eventName | startswith("Create")) and .eventName != "CreateLogStream")'
JQ_COUNT = 'reduce (inputs | .Records[] | .eventName) as $n ({}; .[$n] += 1)'


def query_check(args, runner, reps, jaq=None):
    """`ctrules query` against jq and jaq (when found, as for (f)) on one core: the
    Create calls but CreateLogStream as NDJSON records, and events counted
    per eventName. Every way's answer is checked against ctrules's."""
    files = [os.path.join(runner.corpus, fl["path"]) for fl in runner.manifest["file_list"]]
    listing = os.path.join(args.workdir, "query-files.list")
    with open(listing, "wb") as f:
        f.write(b"\0".join(p.encode() for p in files) + b"\0")
    ctrules = runner.bins["ctrules"]
    ways = {
        ("select", "ctrules query"): [ctrules, "query", QUERY_WHERE, "--input", runner.corpus, "--jobs", "1", "-q"],
        ("count", "ctrules query"): [ctrules, "query", "--count-by", "eventName", "--format", "ndjson",
                                     "--input", runner.corpus, "--jobs", "1", "-q"],
    }
    for tool, path in (("jq", shutil.which("jq")), ("jaq", jaq)):
        if not path:
            log("   %s not found: its query rows are skipped" % tool)
            continue
        feed = 'xargs -0 gzip -dc < "%s"' % listing
        ways[("select", tool)] = ["bash", "-c", "set -o pipefail; %s | '%s' -c '%s'" % (feed, path, JQ_SELECT)]
        ways[("count", tool)] = ["bash", "-c", "set -o pipefail; %s | '%s' -n -c '%s'" % (feed, path, JQ_COUNT)]
    rows, answers = [], {}
    for (question, way), cmd in ways.items():
        times = []
        for rep in range(reps):
            r = measure(cmd, env=dict(os.environ, LC_ALL="C"))
            if r["rc"] != 0:
                sys.exit("error: %s %s exited with %d: %s" % (way, question, r["rc"], r["stderr"]))
            times.append(r)
            if rep == 0:
                out = r["stdout"]
                if question == "select":
                    answers[(question, way)] = len(out.splitlines())
                elif way == "ctrules query":
                    answers[(question, way)] = {json.loads(l)["eventName"]: json.loads(l)["count"] for l in out.splitlines()}
                else:
                    answers[(question, way)] = json.loads(out)
        wall = statistics.median(t["wall_s"] for t in times)
        rss = max(t["maxrss_kb"] for t in times) / 1024
        rows.append({"question": question, "way": way, "wall_s": wall,
                     "mb_raw_per_s": runner.manifest["raw_bytes"] / 1e6 / wall, "peak_rss_mb": rss})
        log("   %-6s %-14s %6.2f s  %7.1f MB/s raw  rss %6.1f MB" % (question, way, wall,
                                                                   runner.manifest["raw_bytes"] / 1e6 / wall, rss))
    for (question, way), answer in answers.items():
        if answer != answers[(question, "ctrules query")]:
            sys.exit("error: %s answers %s differently from ctrules query" % (way, question))
    return {"rows": rows, "select_matches": answers[("select", "ctrules query")]}


def fmt_query(q):
    if not q:
        return "(query rows skipped)"
    lines = ["query, one core (every way's answer checked against ctrules's; %d records selected):" % q["select_matches"],
             "", "| question | way | time s | MB/s raw | peak RSS MB |", "|---|---|--:|--:|--:|"]
    for r in q["rows"]:
        lines.append("| %s | %s | %.2f | %.1f | %.1f |" % (r["question"], r["way"], r["wall_s"], r["mb_raw_per_s"],
                                                         r["peak_rss_mb"]))
    return "\n".join(lines)


def fmt_s3(s3):
    if not s3:
        return "(S3 check skipped: --no-s3, or (c) not among the ways run)"
    lines = ["S3 (%d objects, %s events, a loopback moto server):" % (s3["objects"], "{:,}".format(s3["events"])), "",
             "| way | time s | objects/s | events/s | peak RSS MB |", "|---|--:|--:|--:|--:|"]
    for r in s3["rows"]:
        lines.append("| %s | %.2f | %.1f | %.0f | %.1f |" % (r["way"], r["wall_s"], r["objects_per_s"], r["events_per_s"],
                                                          r["peak_rss_mb"]))
    return "\n".join(lines)


def fixed_cost(args, runner, reps=3):
    """ctrules run on the smallest file of the corpus: mostly start-up (rules
    compiled, GeoIP and tables loaded), which the corpus-wide times include."""
    smallest = min(runner.manifest["file_list"], key=lambda f: f["raw_bytes"])
    d = os.path.join(args.workdir, "one-small-file")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.symlink(os.path.join(runner.corpus, smallest["path"]), os.path.join(d, "small.json.gz"))
    out = {"file_events": smallest["events"], "file_raw_mb": smallest["raw_bytes"] / 1e6}
    for cfg in ("a", "c", "d"):
        walls = [runner.run(cfg, 1, input_path=d)["wall_s"] for _ in range(reps)]
        out[cfg] = statistics.median(walls)
    return out


def fmt_table(res, all_jobs, skipped=None):
    skipped = skipped or {}
    lines = []
    hdr = ("| | way | jobs | time s (min-max) | events/s | MB/s gz in | MB/s raw | peak RSS MB | CPU s | other load |")
    lines.append(hdr)
    lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for cfg in CONFIGS:
        if cfg in skipped:
            lines.append("| %s | %s | | skipped: %s | | | | | | |" % (cfg, CONFIGS[cfg], skipped[cfg]))
            continue
        for j in (1, all_jobs) if all_jobs > 1 else (1,):
            x = res.get(cfg, {}).get(j)
            if not x:
                continue
            lines.append("| %s | %s | %d | %.2f (%.2f-%.2f) | %s | %.1f | %.1f | %.1f | %.2f | %.2f%s |" % (
                cfg, CONFIGS[cfg], j, x["wall_s"], x["wall_min_s"], x["wall_max_s"],
                "{:,.0f}".format(x["events_per_s"]), x["mb_per_s_gz"], x["mb_per_s_raw"], x["peak_rss_mb"],
                x["cpu_s"], x["other_load"], " !" if x["other_load_max"] > 0.25 else ""))
    return "\n".join(lines)


def fmt_ratios(rows):
    lines = ["| ratio (raw MB/s) | jobs | measured | target | met |", "|---|--:|--:|--:|---|"]
    for r in rows:
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        target = ">= %g" % r["target"] if r["met"] is not None else ("(%g)" % r["target"] if r["target"] else "")
        lines.append("| %s | %d | %.2f | %s | %s |" % (r["ratio"], r["jobs"], r["value"], target, met))
    return "\n".join(lines)


def fmt_memory(mem):
    if not mem:
        return "(memory check skipped: --big-mb 0, or (c) not among the ways run)"
    lines = ["| file | way | raw MB | events | time s | MB/s raw | peak RSS MB |", "|---|---|--:|--:|--:|--:|--:|"]
    for r in mem["single_file"]:
        if "skipped" in r:
            lines.append("| %s | %s | | | | | skipped: %s |" % (r["file"], CONFIGS[r["config"]], r["skipped"]))
        else:
            lines.append("| %s | %s | %.0f | %s | %.2f | %.1f | %.1f |" % (
                r["file"], CONFIGS[r["config"]], r["raw_mb"], "{:,}".format(r["events"]), r["wall_s"],
                r["mb_per_s_raw"], r["peak_rss_mb"]))
    b = mem["single_file_bounded"]
    f = mem["files_count"]
    o = mem["stdout"]
    lines.append("")
    lines.append("- one file, ctrules peak RSS: %.1f MB small, %.1f MB big; %s: %s" % (
        b["ctrules_small_rss_mb"], b["ctrules_big_rss_mb"], b["rule"], "met" if b["met"] else "**not met**"))
    lines.append("- one file to standard output (`--output -`), ctrules peak RSS: %.1f MB small, %.1f MB big; %s: %s" % (
        o["ctrules_small_rss_mb"], o["ctrules_big_rss_mb"], o["rule"], "met" if o["met"] else "**not met**"))
    lines.append("- number of files, ctrules --jobs 1: %.1f MB for 3 files, %.1f MB for all %d (largest %.1f MB raw); %s: %s" % (
        f["ctrules_3_files_rss_mb"], f["ctrules_all_files_rss_mb"], f["files"], f["largest_file_raw_mb"], f["rule"],
        "met" if f["met"] else "**not met**"))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description="The ctrules benchmark (docs/benchmark.md).")
    ap.add_argument("--raw-mb", type=float, default=80.0, help="corpus size in MB of raw JSON (default 80)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the corpus and the rules (default 1)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions; the median is reported (default 3)")
    ap.add_argument("--level", type=int, default=1, help="gzip level for every way (default 1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="'all cores' (default: nproc)")
    ap.add_argument("--rules", type=int, default=1000, help="generated rules for (d) (default 1000)")
    ap.add_argument("--only", default="abncdefg", help="ways to run, e.g. 'acd' (default abncdefg)")
    ap.add_argument("--big-mb", type=float, default=200.0,
                    help="single-file memory check: MB of raw JSON (default 200; 1000 for 1 GB; 0 skips)")
    ap.add_argument("--naive-big-limit-mb", type=float, default=300.0,
                    help="run the naive way in the memory check only up to this size (default 300)")
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"), help="corpus, outputs, results (default bench/work)")
    ap.add_argument("--json", help="also write the results here (always written to WORKDIR/results.json)")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--fail-on-miss", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--write-reference", action="store_true",
                    help="record the digests of (n), (c) and (d)'s output as the reference (bench/expected-output.json)")
    ap.add_argument("--no-s3", action="store_true", help="leave out the S3 check (it installs moto with tools/moto.sh)")
    ap.add_argument("--no-query", action="store_true", help="leave out the query rows (ctrules query, jq, jaq)")
    ap.add_argument("--smoke", action="store_true", help="CI-sized run: --raw-mb 3 --reps 1 --big-mb 12")
    ap.add_argument("--install-peers", action="store_true",
                    help="install the missing peers: jaq (cargo install jaq --locked) for (f), DuckDB "
                         "(pip install duckdb into --duckdb-venv) for (g); without it they are skipped")
    ap.add_argument("--jaq", help="the jaq binary of (f) (default: jaq on PATH, then ~/.cargo/bin/jaq)")
    ap.add_argument("--duckdb-venv", help="virtualenv holding the duckdb package for (g) (default WORKDIR/venv)")
    args = ap.parse_args()
    if args.smoke:
        args.raw_mb, args.reps, args.big_mb = 3.0, 1, 12.0
    args.workdir = os.path.abspath(args.workdir)
    os.makedirs(args.workdir, exist_ok=True)
    unknown = sorted(set(args.only) - set(CONFIGS) - set(", "))
    if unknown:
        ap.error("--only: unknown ways %s (the ways are %s)" % ("".join(unknown), "".join(CONFIGS)))
    only = [c for c in CONFIGS if c in args.only]
    # A peer that is not installed is skipped (a row says so), never a failure.
    tools, skipped, peer_versions = find_peers(args, only)
    only = [c for c in only if c not in skipped]

    machine = machine_info()
    bins = build(args)
    corpus_dir, manifest = corpus(args)
    rules_dir, check = rules(args, bins["ctrules"])
    log("corpus: %d files, %s events, %.1f MB raw, %.1f MB gzipped; %d events over 50 KB"
        % (manifest["files"], "{:,}".format(manifest["events"]), manifest["raw_bytes"] / 1e6,
           manifest["gz_bytes"] / 1e6, manifest["events_over_50kb"]))
    runner = Runner(args, bins, corpus_dir, manifest, rules_dir, tools)

    all_jobs = max(1, args.jobs)
    jobs_list = [1, all_jobs] if all_jobs > 1 else [1]
    log("== warm-up (page cache), and a check that every way processes every event")
    for cfg in only:
        runner.run(cfg, all_jobs, verify=True)
    runs = {cfg: {j: [] for j in jobs_list} for cfg in only}
    # Repetitions are interleaved (a b c d e, a b c d e, ...) so that a burst
    # of load from elsewhere on the machine does not hit a single way.
    for rep in range(args.reps):
        for cfg in only:
            for j in jobs_list:
                r = runner.run(cfg, j)
                runs[cfg][j].append(r)
                log("   rep %d  %-26s jobs %d  %6.2f s  %6.1f MB/s raw  rss %6.1f MB  other load %.2f"
                    % (rep + 1, CONFIGS[cfg], j, r["wall_s"], manifest["raw_bytes"] / 1e6 / r["wall_s"],
                       r["maxrss_kb"] / 1024, r.get("other_load", 0)))
    res = {cfg: {j: summarize(runs[cfg][j], manifest) for j in jobs_list} for cfg in only}
    ratios = ratio_rows(res, all_jobs)
    mem, fixed = {}, {}
    if "c" in only and "d" in only and "a" in only:
        log("== fixed cost (one small file)")
        fixed = fixed_cost(args, runner)
    if "c" in only:
        log("== memory check")
        mem = memory_check(args, runner)
    s3 = {}
    if "c" in only and not args.no_s3:
        log("== S3 (a moto server on loopback) against local files")
        s3 = s3_check(args, runner)
    query = {}
    if not args.no_query:
        log("== query, one core: ctrules query, jq, jaq")
        jaq = tools.get("f") or find_jaq(args, False)[0]
        query = query_check(args, runner, args.reps, jaq)
    shutil.rmtree(runner.out, ignore_errors=True)

    corpus_line = ("corpus: %d files of %d-%d events, %s events, %.1f MB raw JSON, %.1f MB gzipped, "
                   "%d events over 50 KB (largest %.0f KB), median event %d bytes; seed %d; gzip level %d for every way"
                   % (manifest["files"], manifest["events_per_file"]["min"], manifest["events_per_file"]["max"],
                      "{:,}".format(manifest["events"]), manifest["raw_bytes"] / 1e6, manifest["gz_bytes"] / 1e6,
                      manifest["events_over_50kb"], manifest["event_bytes"]["max"] / 1e3,
                      manifest["event_bytes"]["median"], args.seed, args.level))
    machine_line = "machine: %d cores, %s, %s, %s; %s; median of %d runs" % (
        machine["nproc"], machine["cpu"], machine["memory"], machine["date"], machine["rustc"], args.reps)
    print()
    print(machine_line)
    print(corpus_line)
    print("rules: rules.d (%s) and %d generated rules (ctrules check: %d errors, %d warnings)" % (
        "shipped", check.get("rules") or 0, check["errors"], check["warnings"]))
    if peer_versions or skipped:
        print("peers: " + "; ".join(["(%s) %s" % (c, peer_versions[c]) for c in FILTER_WAYS if c in peer_versions]
                                    + ["(%s) skipped: %s" % (c, skipped[c]) for c in FILTER_WAYS if c in skipped]))
    print()
    print(fmt_table(res, all_jobs, skipped))
    print()
    print("other load: CPU used by other processes on the machine during the run, in cores (median; '!' = a run above 0.25)")
    print()
    print(fmt_ratios(ratios))
    print()
    print(fmt_memory(mem))
    print()
    print(fmt_s3(s3))
    print()
    print(fmt_query(query))
    if fixed:
        print()
        print("fixed cost, one file of %d events (%.2f MB raw), 1 job: limit %.3f s, ctrules rules.d %.3f s, "
              "ctrules 1000 rules %.3f s" % (fixed["file_events"], fixed["file_raw_mb"], fixed["a"], fixed["c"], fixed["d"]))
    if args.smoke:
        print()
        print("(--smoke: a corpus this small says nothing about the targets; it checks that the harness works)")
    if runner.reference:
        print()
        print("output against the reference (bench/expected-output.json): "
              + ", ".join("(%s) %s" % (cfg, v) for cfg, v in sorted(runner.reference.items())))
    targets = [r for r in ratios if r["met"] is not None]
    if mem:
        targets += [{"ratio": "memory: single file bounded", "met": mem["single_file_bounded"]["met"]},
                    {"ratio": "memory: independent of the number of files", "met": mem["files_count"]["met"]},
                    {"ratio": "memory: standard output bounded", "met": mem["stdout"]["met"]}]
    print()
    print("targets met: %d of %d%s" % (sum(1 for t in targets if t["met"]), len(targets),
                                       "".join("\n  missed: %s" % t["ratio"] + (" (%d jobs: %.2f, target %g)" % (
                                           t["jobs"], t["value"], t["target"]) if "value" in t else "")
                                               for t in targets if not t["met"])))

    result = {"machine": machine, "git": git_info(), "args": vars(args),
              "corpus": {k: v for k, v in manifest.items() if k != "file_list"},
              "rules_generated": {"dir": rules_dir, "rules": check.get("rules"), "warnings": check["warnings"]},
              "results": {cfg: {str(j): v for j, v in d.items()} for cfg, d in res.items()},
              "ratios": ratios, "memory": mem, "fixed_cost": fixed, "s3": s3, "query": query,
              "output_reference": runner.reference,
              "peers": {"tools": tools, "versions": peer_versions, "skipped": skipped},
              "configs": CONFIGS}
    path = os.path.join(args.workdir, "results.json")
    for p in [path] + ([args.json] if args.json else []):
        with open(p, "w") as f:
            json.dump(result, f, indent=1)
    print("\nresults: %s" % path)
    if args.fail_on_miss and not all(t["met"] for t in targets):
        sys.exit(1)


if __name__ == "__main__":
    main()
