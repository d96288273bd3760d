#!/usr/bin/env python3
"""Kubernetes login (Lessor vs OpenBao) and API-key verify (Lessor) under load.

Owns the auth benchmark end to end: builds `lessor` and the Kubernetes API-server stand-in
(`cargo run -p lessor-test-support --example fake_kubernetes`), starts the stand-in with N
projected tokens for `bench/app`, starts Lessor and OpenBao from config files on fresh
PostgreSQL databases (compare.py's plumbing), enables `kubernetes` auth at `auth/kubernetes`
on both with the same config and role, and measures with wrk:

* `POST /v1/auth/kubernetes/login` in TokenReview mode on both, then Lessor in local (JWKS)
  mode, at each concurrency;
* on Lessor, `PUT /v1/apikey/verify` next to `GET /v1/auth/token/lookup-self`, and a short
  run of `GET /v1/apikey/creds/<role>` (issue).

Writes bench/results/auth-latest.md and .json. Stops every process it started and drops its
databases on exit, error, Ctrl-C or SIGTERM. Standard library only; 127.0.0.1 only; every load
run bounded in time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (  # noqa: E402  (the shared plumbing)
    BENCH_DIR, OPENBAO_DDL, REPO_DIR, BenchError, Postgres, Server, build_lessor,
    busy_warning, collect_meta, ensure_bao, ensure_wrk, exit_on_signals, expect, http, log, ms,
    ratio, retry, run_main, write_report,
)

LUA = BENCH_DIR / "wrk" / "auth.lua"
FAKE_BIN = REPO_DIR / "target" / "release" / "examples" / "fake_kubernetes"
ROLE = {
    "bound_service_account_names": ["app"],
    "bound_service_account_namespaces": ["bench"],
    "token_policies": ["default"],
    "token_ttl": "10m",
}


def wrk_run(wrk: str, url: str, env: dict, connections: int, threads: int, seconds: int) -> dict:
    threads = min(threads, connections)
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", str(LUA), url]
    full_env = {**os.environ, **env, "BENCH_THREADS": str(threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk on {url} failed: {out.stderr.strip()}")
    result: dict = {}
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_ERR ") and "first_error" not in result:
            result["first_error"] = line[len("BENCH_ERR "):][:300]
        if line.startswith("BENCH_JSON "):
            result.update(json.loads(line[len("BENCH_JSON "):]))
    if "requests" not in result:
        raise BenchError(f"wrk printed no BENCH_JSON line:\n{out.stdout}\n{out.stderr}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
    return result


class Fake:
    """The stand-in process; counts come from the stats.json it keeps up to date."""

    def __init__(self, directory: Path, tokens: int):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = (directory / "fake.log").open("w")
        log(f"starting the Kubernetes stand-in with {tokens} tokens")
        self.process = subprocess.Popen([str(FAKE_BIN), str(directory), str(tokens)],
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (directory / "url").exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the Kubernetes stand-in did not come up")
            time.sleep(0.2)

    def read(self, name: str) -> str:
        return (self.dir / name).read_text().strip()

    def stats(self) -> dict:
        time.sleep(0.6)  # one refresh period of stats.json
        return json.loads(self.read("stats.json"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def init_unseal(server: Server) -> None:
    base = server.addr
    status, body = http("PUT", f"{base}/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1})
    body = expect(server, "sys/init", status, body, (200,))
    server.token = body["root_token"]
    status, body = http("PUT", f"{base}/v1/sys/unseal", {"key": body["keys"][0]})
    expect(server, "sys/unseal", status, body, (200,))
    retry(server, "token lookup after unseal",
          lambda: http("GET", f"{base}/v1/auth/token/lookup-self", token=server.token))


def call(server: Server, method: str, path: str, body: dict | None, step: str) -> dict:
    status, reply = http(method, f"{server.addr}/v1/{path}", body, token=server.token)
    return expect(server, step, status, reply, (200, 204))


def setup_kubernetes(server: Server, fake: Fake, local: bool = False) -> None:
    if not local:
        call(server, "POST", "sys/auth/kubernetes", {"type": "kubernetes"}, "enable kubernetes")
    config = {"kubernetes_host": fake.read("url"), "kubernetes_ca_cert": fake.read("ca.pem")}
    if local:
        config.update(validation="local", jwks_url=fake.read("jwks_url"),
                      jwks_ca_cert=fake.read("ca.pem"), issuer=fake.read("issuer"))
    else:
        config["token_reviewer_jwt"] = fake.read("reviewer.jwt")
        if server.name == "OpenBao":
            # Otherwise it would look for an in-cluster CA/JWT under /var/run/secrets.
            config["disable_local_ca_jwt"] = True
        else:
            config["issuer"] = fake.read("issuer")
    call(server, "POST", "auth/kubernetes/config", config, "kubernetes config")
    call(server, "POST", "auth/kubernetes/role/app", {**ROLE, "audience": fake.read("issuer")},
         "kubernetes role")
    jwt = fake.read("tokens.txt").splitlines()[0]
    status, reply = http("POST", f"{server.addr}/v1/auth/kubernetes/login",
                         {"role": "app", "jwt": jwt})
    reply = expect(server, "kubernetes login", status, reply, (200,))
    if not reply.get("auth", {}).get("client_token"):
        raise BenchError(f"{server.name}: login answered 200 without a client token")


def measure(args, wrk: str, label: str, server: Server, path: str, env: dict,
            connections: int, seconds: int, fake: Fake | None = None) -> dict:
    before = fake.stats() if fake else None
    warm = wrk_run(wrk, f"{server.addr}{path}", env, connections, args.threads, args.warmup) \
        if args.warmup > 0 else {"requests": 0}
    result = wrk_run(wrk, f"{server.addr}{path}", env, connections, args.threads, seconds)
    if fake:
        after = fake.stats()
        sent = warm["requests"] + result["requests"]
        result["token_reviews"] = after["token_reviews"] - before["token_reviews"]
        result["jwks_fetches"] = after["jwks_fetches"] - before["jwks_fetches"]
        result["reviews_per_request"] = result["token_reviews"] / sent if sent else 0
    result.update(scenario=label, server=server.name, concurrency=connections, path=path)
    log(f"{label:24} c={connections:<3} {server.name:14} {result['rps']:8.0f} req/s  "
        f"p50 {result['p50_us'] / 1000:7.2f} ms  p99 {result['p99_us'] / 1000:7.2f} ms  "
        f"errors {result['errors']}"
        + (f"  reviews/req {result['reviews_per_request']:.2f}" if fake else "")
        + (f"  first error: {result['first_error']}" if "first_error" in result else ""))
    return result


def row(r: dict) -> str:
    extra = f"{r['reviews_per_request']:.2f}" if "reviews_per_request" in r else "–"
    return (f"| {r['scenario']} | {r['server']} | {r['concurrency']} | {r['rps']:.0f} "
            f"| {ms(r['p50_us'])} | {ms(r['p99_us'])} | {r['errors']} | {extra} |")


def render(args, meta: dict, login: list[dict], apikey: list[dict]) -> str:
    head = ["| scenario | server | conc. | req/s | p50 ms | p99 ms | errors | TokenReviews / request |",
            "|---|---|--:|--:|--:|--:|--:|--:|"]
    lines = [
        "# Kubernetes login (Lessor vs OpenBao) and API-key verify (Lessor)", "",
        f"Run {meta['when']} on {meta['host']} ({meta['cpus']} CPUs, load average before the run "
        f"{meta['loadavg']}). Lessor {meta['lessor_version']} (release build), "
        f"{meta['bao_version']}, {meta['wrk_version']}, {meta['pg_version']}.",
        f"Each run: {args.warmup} s warm-up, then {args.duration} s measured (issue: "
        f"{args.issue_duration} s), wrk {args.threads} threads, 127.0.0.1 only, PostgreSQL "
        f"storage (max_parallel {args.pool}), TLS off between wrk and the servers. Kubernetes "
        f"API-server stand-in: `fake_kubernetes` example (HTTPS, RS256), {args.tokens} "
        f"distinct projected tokens cycled by wrk.", "",
        *busy_warning(meta),
        "## Kubernetes login: `POST /v1/auth/kubernetes/login`", "", *head,
        *[row(r) for r in login], "",
        "| conc. | Lessor / OpenBao req/s (TokenReview) | p50 ratio | p99 ratio "
        "| Lessor local / OpenBao req/s | p50 ratio | p99 ratio |", "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c in args.concurrency:
        by = {r["server"]: r for r in login if r["concurrency"] == c}
        lr, lo, ob = by.get("Lessor (review)"), by.get("Lessor (local)"), by.get("OpenBao (review)")
        if lr and ob and lo:
            lines.append(
                f"| {c} | {ratio(lr['rps'], ob['rps'])} | {ratio(lr['p50_us'], ob['p50_us'])} "
                f"| {ratio(lr['p99_us'], ob['p99_us'])} | {ratio(lo['rps'], ob['rps'])} "
                f"| {ratio(lo['p50_us'], ob['p50_us'])} | {ratio(lo['p99_us'], ob['p99_us'])} |")
    lines += ["", "## API keys (Lessor only)", "", *head, *[row(r) for r in apikey], "",
              "| conc. | verify / lookup-self req/s (target ≥ 0.80) |", "|--:|--:|"]
    for c in args.concurrency:
        by = {r["scenario"]: r for r in apikey if r["concurrency"] == c}
        if "apikey verify" in by and "token lookup-self" in by:
            lines.append(f"| {c} | {ratio(by['apikey verify']['rps'], by['token lookup-self']['rps'])} |")
    lines += ["", f"Command: `{meta['command']}`", ""]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per run")
    parser.add_argument("--issue-duration", type=int, default=5, help="seconds of apikey issue")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        default=[16, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pool", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=2000, help="distinct service-account JWTs")
    parser.add_argument("--lessor-port", type=int, default=8300)
    parser.add_argument("--bao-port", type=int, default=8400)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "auth-latest.md")
    args = parser.parse_args()
    if not (0 < args.duration <= 120 and 0 < args.issue_duration <= 60 and 0 <= args.warmup <= 30):
        parser.error("--duration 1..120, --issue-duration 1..60, --warmup 0..30")
    return args


def main() -> int:
    args = parse_args()
    if urllib.parse.urlparse(args.pg).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError("the benchmark only runs against a PostgreSQL on this machine")
    pg = Postgres(args.pg)
    lessor_bin = build_lessor(args.skip_build)
    if not args.skip_build:
        log("building the Kubernetes stand-in (fake_kubernetes example)")
        subprocess.run(["cargo", "build", "--release", "-p", "lessor-test-support",
                        "--example", "fake_kubernetes"], cwd=REPO_DIR, check=True)
    if not FAKE_BIN.is_file():
        raise BenchError(f"{FAKE_BIN} does not exist; build it or drop --skip-build")
    bao_bin, wrk = ensure_bao(), ensure_wrk()

    workdir = Path(tempfile.mkdtemp(prefix="lessor-auth-bench-"))
    suffix = os.getpid()
    lessor = Server("Lessor", lessor_bin, args.lessor_port, f"bench_auth_lessor_{suffix}", workdir)
    bao = Server("OpenBao", bao_bin, args.bao_port, f"bench_auth_openbao_{suffix}", workdir)
    started: list = []

    def cleanup() -> None:
        for thing in reversed(started):
            thing.stop()
        for server in (lessor, bao):
            try:
                pg.drop(server.database)
            except (BenchError, OSError, subprocess.SubprocessError) as error:
                log(f"could not drop {server.database}: {error}")
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    exit_on_signals()

    meta = collect_meta(bao_bin, wrk, pg)
    meta["command"] = " ".join(["python3", "bench/auth.py", *sys.argv[1:]])
    try:
        fake = Fake(workdir / "k8s", args.tokens)
        started.append(fake)
        for server in (lessor, bao):
            pg.recreate(server.database)
        pg.psql(bao.database, OPENBAO_DDL)
        for server in (lessor, bao):
            started.append(server)
            server.start(pg, args.pool, False)
            init_unseal(server)
            setup_kubernetes(server, fake)
            log(f"{server.name} ready, kubernetes login works")

        tokens_env = {"BENCH_MODE": "login", "BENCH_TOKENS_FILE": str(fake.dir / "tokens.txt")}
        login_path = "/v1/auth/kubernetes/login"
        login: list[dict] = []
        for turn, c in enumerate(args.concurrency):
            order = [lessor, bao] if turn % 2 == 0 else [bao, lessor]
            for server in order:
                r = measure(args, wrk, "k8s login", server, login_path, tokens_env, c,
                            args.duration, fake)
                r["server"] = f"{server.name} (review)"
                login.append(r)
        setup_kubernetes(lessor, fake, local=True)
        for c in args.concurrency:
            r = measure(args, wrk, "k8s login", lessor, login_path, tokens_env, c,
                        args.duration, fake)
            r["server"] = "Lessor (local)"
            login.append(r)

        call(lessor, "POST", "sys/mounts/apikey", {"type": "apikey"}, "mount apikey")
        call(lessor, "POST", "apikey/roles/bench",
             {"prefix": "lsk_bench_", "scopes": ["bench:read"], "default_ttl": "1h",
              "max_ttl": "2h"}, "apikey role")
        key = call(lessor, "GET", "apikey/creds/bench", None, "issue api key")["data"]["key"]
        checked = call(lessor, "PUT", "apikey/verify", {"key": key}, "verify api key")
        if checked.get("data", {}).get("valid") is not True:
            raise BenchError("Lessor: a freshly issued API key does not verify")
        apikey: list[dict] = []
        token_env = {"BENCH_TOKEN": lessor.token}
        for turn, c in enumerate(args.concurrency):
            pair = [("apikey verify", "/v1/apikey/verify", {**token_env, "BENCH_MODE": "verify",
                                                             "BENCH_KEY": key}),
                    ("token lookup-self", "/v1/auth/token/lookup-self",
                     {**token_env, "BENCH_MODE": "get"})]
            for label, path, env in (pair if turn % 2 == 0 else reversed(pair)):
                apikey.append(measure(args, wrk, label, lessor, path, env, c, args.duration))
        apikey.append(measure(args, wrk, "apikey issue (creds)", lessor, "/v1/apikey/creds/bench",
                              {**token_env, "BENCH_MODE": "get"}, args.concurrency[0],
                              args.issue_duration))
        for r in apikey:
            r["server"] = "Lessor"
    except BenchError:
        for thing in started:
            if isinstance(thing, Server):
                thing.dump_log()
        raise

    report = render(args, meta, login, apikey)
    write_report(args.out, report, {"meta": meta, "login": login, "apikey": apikey})
    return 0


if __name__ == "__main__":
    run_main(main)
