"""`plenary`: the developer's command line.

    plenary stack install             fetch Kafka's jars; install PostgreSQL, build DocumentDB and FerretDB 2 (once);
                                      Chromium and axe-core for the browser tests
    plenary stack up [--no-services]  install, start Kafka and the document store, create the topics, start the
                                      services
    plenary stack down                stop the services, the document store and Kafka
    plenary stack status              one line per component: pid, port, state, CPU and memory
    plenary stack mail [--last N]     the newest messages the local mail sink caught (sign-in codes, ...)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from plenary_kit.stack.browser import install_browser_tools
from plenary_kit.stack.infra import install, local_infra, start_infra
from plenary_kit.stack.mailsink import MailSink, MailStore, summarise
from plenary_kit.stack.processes import (
    HOST,
    SERVICES,
    ComponentStatus,
    StackError,
    StackPaths,
    find_root,
    service_available,
    service_statuses,
    start_services,
    stop_services,
)
from plenary_kit.stack.usage import Usage, measure_usage


def _paths() -> StackPaths:
    return StackPaths(find_root())


def cmd_install(args: argparse.Namespace) -> int:
    paths = _paths()
    install(paths, auto_install=not args.no_apt)
    print(f"Kafka, PostgreSQL with DocumentDB, and FerretDB are installed (cache: {paths.cache}).")
    tools = install_browser_tools(paths, auto_install=not args.no_apt)
    print(f"Browser tests: Chromium at {tools.chromium}, axe-core at {tools.axe}.")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    paths = _paths()
    install(paths, auto_install=not args.no_apt)
    kafka, store = local_infra(paths)
    start_infra(kafka, store)
    print(f"Kafka     {kafka.bootstrap}  (log {kafka.log_file})")
    print(f"Store     {store.uri}  (FerretDB {store.ferretdb.log_file}; PostgreSQL {HOST}:{store.postgres.port}, "
          f"log {store.postgres.log_file})")
    prefix = os.environ.get("PLENARY_TOPIC_PREFIX", "")
    created = ensure_topics(kafka.bootstrap, prefix)
    if created is None:
        print("Topics    not created: plenary_events.topics is not available yet.")
    else:
        print(f"Topics    {len(created)} created" + (f" (prefix {prefix!r})" if prefix else ""))
    if args.no_services:
        return 0
    sink = MailSink(paths)
    sink.start()
    print(f"Mail sink {HOST}:{sink.port}  (the notifications service's e-mail lands in {sink.folder}; "
          "read it with `plenary stack mail`)")
    services = start_services(paths, kafka_bootstrap=kafka.bootstrap, mongodb_uri=store.uri)
    for service in services:
        print(f"{service.name:<13} {service.url}  (log {service.log_file})")
    missing = [name for name in SERVICES if not service_available(name)]
    if missing:
        print(f"Not installed, not started: {', '.join(missing)}.")
    if any(service.name == "gateway" for service in services):
        print(f"\nPlenary is up: open http://127.0.0.1:{SERVICES['gateway'][1]}/")
    return 0


def ensure_topics(bootstrap: str, prefix: str) -> list[str] | None:
    """Create the catalogue's missing topics; None when the catalogue module does not exist yet."""
    try:
        from plenary_events.topics import ensure_topics as ensure
    except ModuleNotFoundError as exc:
        if exc.name in ("plenary_events", "plenary_events.topics"):
            return None
        raise
    try:
        return list(asyncio.run(ensure(bootstrap, prefix)))
    except Exception as exc:
        raise StackError(f"Creating the Kafka topics failed ({exc}); check Kafka's log and run "
                         "`plenary stack up` again.") from exc


def cmd_down(args: argparse.Namespace) -> int:
    paths = _paths()
    stop_services(paths)
    MailSink(paths).stop()
    kafka, store = local_infra(paths)
    store.stop()
    kafka.stop()
    print("Stopped the services, the mail sink, the document store (FerretDB, PostgreSQL) and Kafka.")
    if args.remove_data:
        store.remove()
        print(f"Removed the document store's cluster ({store.cluster_dir}).")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    paths = _paths()
    kafka, store = local_infra(paths)
    rows: list[ComponentStatus] = [kafka.status(), store.postgres.status(), store.ferretdb.status(),
                                   MailSink(paths).status(), *service_statuses(paths)]
    usage = measure_usage([row.pid for row in rows], seconds=args.seconds)
    print(format_status(rows, usage))
    running = [usage[row.pid] for row in rows if row.pid in usage]
    if running:
        print(f"total: {sum(u.cpu_percent for u in running):.1f} % of one core over {args.seconds:g} s, "
              f"{sum(u.rss_mib for u in running):.0f} MiB resident")
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    sink = MailSink(_paths())
    files = MailStore(sink.folder).files()
    if not files:
        print(f"No mail yet in {sink.folder}.")
        return 0
    for path in files[-args.last:]:
        message = summarise(path)
        print(f"--- {path.name}\nTo: {message.to}\nSubject: {message.subject}\n\n{message.text}\n")
    return 0


def format_status(rows: Sequence[ComponentStatus], usage: Mapping[int, Usage] | None = None) -> str:
    usage = usage or {}
    table = [("component", "pid", "port", "state", "cpu", "rss")]
    for row in rows:
        use = usage.get(row.pid) if row.pid else None
        table.append((row.name, str(row.pid) if row.pid else "-", str(row.port), row.state,
                      f"{use.cpu_percent:.1f}%" if use else "-", f"{use.rss_mib:.0f} MiB" if use else "-"))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in table)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plenary", description="Plenary developer tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    stack = commands.add_parser("stack", help="the local Kafka, document store and services")
    actions = stack.add_subparsers(dest="action", required=True)
    for name, func, text in (
        ("install", cmd_install, "fetch Kafka's jars, build DocumentDB and FerretDB 2 (once)"),
        ("up", cmd_up, "install, start Kafka and the document store, create topics, start the services"),
        ("down", cmd_down, "stop the services, the document store and Kafka"),
        ("status", cmd_status, "show what runs"),
        ("mail", cmd_mail, "print the newest messages the local mail sink caught"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.set_defaults(func=func)
        if name in ("install", "up"):
            action.add_argument("--no-apt", action="store_true",
                                help="never run apt-get for a missing tool (java, mvn, go, chromium, npm) as root")
        if name == "mail":
            action.add_argument("--last", type=int, default=5, help="how many of the newest messages (default 5)")
        if name == "up":
            action.add_argument("--no-services", action="store_true",
                                help="start Kafka and the document store only")
        if name == "down":
            action.add_argument("--remove-data", action="store_true",
                                help="also delete the local document store's data (its PostgreSQL cluster)")
        if name == "status":
            action.add_argument("--seconds", type=float, default=2.0,
                                help="how long to measure each component's CPU use (default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StackError as exc:
        print(f"plenary: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("plenary: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `plenary stack status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
