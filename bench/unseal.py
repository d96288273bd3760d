"""Unseal to serving with and without many outstanding leases, Lessor only, repeated.

leases.py measures unseal once per server as part of a long run; this measures it several
times on one broker (same mounts, same engines) before and after issuing N cheap leases, so
the comparison is not a single sample taken right after a burst of writes. Reuses leases.py's
setup (same target database, the same `cheap` role). Standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import compare as base
import leases
from compare import BenchError, log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--leases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds to wait after the bulk issue before measuring")
    parser.add_argument("--again", type=float, default=0.0,
                        help="measure once more this many seconds later")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--lessor-port", type=int, default=8320)
    args = parser.parse_args()

    pg = base.Postgres(args.pg)
    binary = base.build_lessor(args.skip_build)
    workdir = Path(tempfile.mkdtemp(prefix="lessor-unseal-bench-"))
    pid = os.getpid()
    target_db, cheap_user, readers = f"bench_ut_{pid}", f"bench_ucheap{pid}", f"bench_ur{pid}"
    server = leases.LeaseServer("Lessor", binary, args.lessor_port, f"bench_unseal_{pid}", workdir)
    server.prefix = f"bench_u{pid}_"
    server.root_role = f"bench_uroot_{pid}"
    server.root_password = "unused-with-trust-auth"

    def cleanup() -> None:
        server.stop()
        for step in (lambda: pg.drop(target_db), lambda: pg.drop(server.database),
                     lambda: leases.drop_roles(pg, server.prefix),
                     *(lambda n=n: pg.psql("postgres", f"DROP ROLE IF EXISTS {n}")
                       for n in (cheap_user, readers, server.root_role))):
            try:
                step()
            except (BenchError, OSError) as error:
                log(f"cleanup step failed: {error}")
        shutil.rmtree(workdir, ignore_errors=True)

    atexit.register(cleanup)
    leases.setup_target(pg, target_db, [server], cheap_user, readers)
    pg.recreate(server.database)
    server.start(pg, 16, False)
    leases.prepare(server, pg, target_db, cheap_user, readers, 16)
    probe = leases.call(server, "GET", f"database/creds/{leases.ROLE_CHEAP}")["lease_id"]

    def measure(label: str) -> list[dict]:
        runs = [leases.time_unseal(server, probe, 30) for _ in range(args.repeat)]
        for key in ("unseal_request_ms", "to_lookup_self_ms", "to_lease_lookup_ms"):
            values = [r[key] for r in runs if r.get(key) is not None]
            log(f"{label}: {key} median {statistics.median(values):.1f} "
                f"min {min(values):.1f} max {max(values):.1f} ({len(values)} runs)")
        return runs

    measure("1 lease")
    issued = leases.bulk(server, "GET", f"/v1/database/creds/{leases.ROLE_CHEAP}", args.leases,
                         32, 600)
    log(f"issued {issued['ok']} cheap leases in {issued['seconds']:.1f} s; "
        f"settling {args.settle:.0f} s")
    time.sleep(args.settle)
    measure(f"{issued['ok'] + 1} leases")
    if args.again:
        log(f"waiting {args.again:.0f} s, then measuring again")
        time.sleep(args.again)
        measure(f"{issued['ok'] + 1} leases, {args.settle + args.again:.0f} s after issuing")
    return 0


if __name__ == "__main__":
    base.run_main(main)
