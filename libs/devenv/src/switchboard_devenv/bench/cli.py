"""``switchboard-bench``: benchmarks that print a table and write JSON (to ``bench-results/``).

    switchboard-bench pipeline [--transport http|ws] [--rate 1000] [--duration 30] [--sockets 1000] [--repeat 1]
    switchboard-bench consumers [--messages 20000] [--replicas 1] [--service classifier ...]
    switchboard-bench email [--messages 3000]

Each run starts its own broker and services (or uses ``KAFKA_BOOTSTRAP_SERVERS``), on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from switchboard_devenv.bench.harness import BenchGateway, machine, reference_speed, table, write_report

WARMUP_RATE = 500
"""Messages per second of the warm-up (lower when the measured rate is lower)."""


def _print_pipeline(report: dict[str, Any]) -> None:
    rows = [
        [name, s["count"], s["p50_ms"], s["p99_ms"], s["p99_9_ms"], s["max_ms"]]
        for name, s in report["latency"].items()
    ]
    print(
        f"\npipeline over {report['transport']}: offered {report['offered_rate']}/s for {report['duration_s']}s; "
        f"accepted {report['accepted']} of {report['offered']} ({report['accepted_rate']}/s); "
        f"errors {report['errors']}; "
        f"not routed {report['not_routed']}, not acknowledged {report['not_acknowledged']}"
    )
    print(table(rows, ["latency from scheduled send", "count", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]))
    names = sorted(set(report["rss_mib_at_rest"]) | set(report["rss_mib_peak"]))
    print(
        table(
            [
                [
                    n,
                    report["rss_mib_at_rest"].get(n, ""),
                    report["rss_mib_peak"].get(n, ""),
                    report["cpu_cores_used"].get(n, ""),
                    report["cpu_ms_per_message"].get(n, ""),
                    report["gc_seconds"].get(n, ""),
                ]
                for n in names
            ],
            ["process", "RSS at rest MiB", "RSS peak MiB", "CPU cores used", "CPU ms per message", "GC s"],
        )
    )


async def _pipeline(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from switchboard_devenv.bench import pipeline

    env: dict[str, str] = {}
    if args.transport == "ws":
        env = {
            "NOTIFIER_CONVERSATION_WINDOW": "0s",  # every message of a socket acknowledged, to measure each
            "NOTIFIER_RECIPIENT_LIMIT": "1000000",
            "WEBCHAT_RATE_PER_SECOND": "100",
            "WEBCHAT_RATE_BURST": "200",
        }
    env.update(dict(item.split("=", 1) for item in args.service_env))
    gateway = await BenchGateway.start(logs, env=env, only=["intake-chat", "classifier", "dispatcher", "notifier"])
    try:
        if args.warmup > 0:
            await pipeline.run(
                gateway,
                transport=args.transport,
                rate=min(args.rate, WARMUP_RATE),
                duration=args.warmup,
                sockets=min(args.sockets, 200),
                drain=20,
            )
        runs = []
        for _ in range(args.repeat):
            # Several windows: each its own reference speed, as the machine's speed changes between them too
            # (one window: the command's own, taken around it in main()).
            speed_at_start = await asyncio.to_thread(reference_speed) if args.repeat > 1 else None
            run = await pipeline.run(
                gateway, transport=args.transport, rate=args.rate, duration=args.duration, sockets=args.sockets
            )
            if speed_at_start is not None:
                run["reference_speed"] = {
                    "at_start": speed_at_start,
                    "at_end": await asyncio.to_thread(reference_speed),
                }
            runs.append(run)
        return _repeated(runs)
    finally:
        await gateway.stop()


def _repeated(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One window's report as it is; several: the median window's (by p99 acknowledgement), every window's in
    ``repeats`` and the spread of each latency's p99 over them (minimum, median, maximum) in ``p99_spread_ms``.
    """
    if len(runs) == 1:
        return runs[0]
    median = (len(runs) - 1) // 2  # the lower one of an even number
    report = dict(sorted(runs, key=lambda run: run["latency"]["intake_to_ack"]["p99_ms"])[median])
    report["repeats"] = runs
    spread = {}
    for name in runs[0]["latency"]:
        p99s = sorted(run["latency"][name]["p99_ms"] for run in runs)
        spread[name] = [p99s[0], p99s[median], p99s[-1]]
    report["p99_spread_ms"] = spread
    return report


def _print_repeats(report: dict[str, Any]) -> None:
    repeats = report.get("repeats")
    if not repeats:
        return
    rows = [
        [
            index,
            f"{run['accepted']} of {run['offered']}",
            run["accepted_rate"],
            run["not_routed"] + run["not_acknowledged"],
            *(run["latency"][name]["p99_ms"] for name in run["latency"]),
            f"{run['reference_speed']['at_start']} / {run['reference_speed']['at_end']}",
        ]
        for index, run in enumerate(repeats, 1)
    ]
    names = list(repeats[0]["latency"])
    print(f"\n{len(repeats)} windows of the same load on the same gateway (the tables above: the median window)")
    print(
        table(
            rows,
            ["window", "accepted", "per s", "missing", *(f"{name} p99 ms" for name in names), "reference speed"],
        )
    )
    spread = report["p99_spread_ms"]
    print(
        "p99 over the windows, min / median / max ms: "
        + "; ".join(f"{n} {' / '.join(map(str, spread[n]))}" for n in names)
    )


def _print_consumers(report: dict[str, Any]) -> None:
    rows = [
        [
            name,
            r["service"]["replicas"],
            r["service"]["records"],
            r["service"]["per_second"],
            r["passthrough"]["per_second"],
            r["ratio"],
            r["service"]["cpu_seconds"],
            r["passthrough"]["cpu_seconds"],
        ]
        for name, r in report["consumers"].items()
    ]
    replicas = report["replicas"]
    print(
        f"\neach consumer alone on a pre-filled input topic ({report['messages']} events), next to a passthrough"
        + (f" ({replicas} processes of each in one group)" if replicas > 1 else "")
    )
    print(
        table(
            rows,
            [
                "service",
                "replicas",
                "records",
                "service msg/s",
                "passthrough msg/s",
                "ratio",
                "CPU s",
                "passthrough CPU s",
            ],
        )
    )


async def _consumers(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from switchboard_devenv.bench import consumers

    gateway = await BenchGateway.start(logs, only=[])
    try:
        measured = await consumers.run(
            gateway, args.messages, logs, services=args.service or consumers.MEASURED, replicas=args.replicas
        )
        return {"messages": args.messages, "replicas": args.replicas, "consumers": measured}
    finally:
        await gateway.stop()


async def _email(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from switchboard_devenv.bench import email_drain

    gateway = await BenchGateway.start(logs, only=[])
    try:
        return await email_drain.run(gateway, args.messages, logs)
    finally:
        await gateway.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchboard-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    sub = parser.add_subparsers(dest="command", required=True)
    pipe = sub.add_parser("pipeline", help="open-loop chat load through the whole pipeline")
    pipe.add_argument("--transport", choices=["http", "ws"], default="http")
    pipe.add_argument("--rate", type=float, default=1000.0, help="messages per second offered")
    pipe.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    pipe.add_argument("--sockets", type=int, default=1000, help="open WebSockets (ws transport)")
    pipe.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help=f"seconds of load at up to {WARMUP_RATE}/s first, not reported: the broker's JIT compiler is still"
        " busy for thousands of messages after start-up, which a long-running gateway no longer pays",
    )
    pipe.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure this many windows of the load one after the other on the same gateway (after one warm-up),"
        " each with its own reference speed, and report the spread of their p99s: this machine's speed moves",
    )
    pipe.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set for the services (repeatable), e.g. GC_SETTLE=false to measure CPython's collector defaults",
    )
    from switchboard_devenv.bench.consumers import MEASURED, PARTITIONS

    cons = sub.add_parser("consumers", help="each consumer's throughput against a plain passthrough")
    cons.add_argument("--messages", type=int, default=20000)
    cons.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes of each service in one consumer group, against as many passthrough processes"
        f" (up to the topics' {PARTITIONS} partitions)",
    )
    cons.add_argument(
        "--service",
        action="append",
        choices=MEASURED,
        help="measure only this service (repeatable; all three without it)",
    )
    mail = sub.add_parser("email", help="intake-email draining a backlog from a real Dovecot mailbox")
    mail.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--keep-logs", type=Path, help="write the services' logs to this folder and keep them")
    args = parser.parse_args(argv)
    if args.command == "pipeline" and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.command == "consumers" and not 1 <= args.replicas <= PARTITIONS:
        parser.error(f"--replicas must be between 1 and {PARTITIONS} (the topics' partitions)")
    speed_at_start = reference_speed()
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as folder:
        logs = Path(folder)
        if args.keep_logs is not None:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            logs = args.keep_logs
        logs.chmod(0o711)  # Dovecot's unprivileged mail user reaches its Maildir through it
        if args.command == "pipeline":
            report = asyncio.run(_pipeline(args, logs))
            _print_pipeline(report)
            _print_repeats(report)
        elif args.command == "consumers":
            report = asyncio.run(_consumers(args, logs))
            _print_consumers(report)
        elif args.command == "email":
            report = asyncio.run(_email(args, logs))
            print(
                f"\nintake-email drained {report['events']} of {report['messages']} messages from Dovecot: "
                f"{report['events_per_second']}/s ({report['seconds_from_start']}s from start; "
                f"{report['cpu_seconds']} CPU s; RSS {report['rss_mib']} MiB)"
            )
        else:  # pragma: no cover - argparse enforces the choices
            raise SystemExit(2)
    report["machine"] = machine(speed_at_start)
    speed = report["machine"]["reference_speed"]
    print(
        f"\nreference speed of this machine (thousand rounds of fixed Python per CPU second; compare runs only at"
        f" similar speeds): {speed['at_start']} at the start, {speed['at_end']} at the end"
    )
    path = write_report(args.command, report, args.out)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
