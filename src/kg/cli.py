"""The ``kg`` command: build, validate, stats, export, query, serve.

Every command calls one core function. A :class:`~kg.errors.KgError` becomes a short message
on stderr and a non-zero exit status, never a traceback:

    0  success                      1  validation violations, query, store or build errors
    2  data errors (file:line list) and command-line usage errors
    130  interrupted
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import pyoxigraph as ox

from kg import __version__
from kg.build import UPDATES_DIR, build, find_current, read_manifest, unchanged_build
from kg.errors import BadParameter, BuildError, DataError, KgError, NotFound, ValidationError
from kg.fingerprint import build_inputs, quick_settings
from kg.network import MAP_KINDS, MEASURES, NETWORK_FORMATS  # plain constants, no imports

# The rest is imported by the commands that use it: an unchanged `kg build` answers without
# loading pydantic, rdflib or networkx (see _unchanged_build; `python -X importtime -m kg.cli`).
if TYPE_CHECKING:
    import pydantic

    from kg.config import Settings
    from kg.queries import NamedQuery, Param, Term
    from kg.stats import Section
    from kg.store.base import QueryResult, Store

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, "Settings"], int]
T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_DATA = 2
EXIT_INTERRUPTED = 130

#: ``kg query --format`` → the media types asked of the store: results first, then the
#: graph format used when the query is a CONSTRUCT or DESCRIBE.
_JSON = "application/sparql-results+json"
QUERY_FORMATS: dict[str, tuple[str, ...]] = {
    "table": (_JSON, "text/turtle"),
    # ASK has no CSV/TSV form: it falls back to JSON, printed as true/false.
    "csv": ("text/csv", _JSON, "application/n-triples"),
    "tsv": ("text/tab-separated-values", _JSON, "application/n-triples"),
    "json": (_JSON, "application/ld+json"),
}
#: Settings the global options override.
_GLOBAL_SETTINGS = ("data_dir", "var_dir", "base_iri")
#: Widest table cell, in terminal columns; longer values are cut with an ellipsis.
MAX_CELL = 60


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kg`` command line; returns the exit status."""
    unchanged = _unchanged_build(list(sys.argv[1:] if argv is None else argv))
    if unchanged is not None:
        return unchanged
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return EXIT_DATA
    try:
        settings = _settings(args)
        handler: Handler = args.handler
        return handler(args, settings)
    except ValidationError as exc:
        _error(exc.message)
        if exc.report:
            print(exc.report.rstrip(), file=sys.stderr)
        return EXIT_FAILED
    except BuildError as exc:  # not the input's fault: the build could not be written
        for issue in exc.issues:
            _error(str(issue))
        return EXIT_FAILED
    except DataError as exc:
        _error(f"{len(exc.issues)} problem(s) in the input:")
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return EXIT_DATA
    except KgError as exc:
        _error(exc.message)
        return EXIT_FAILED
    except ValueError as exc:
        # A bad setting (pydantic, loaded by then if it is one: not imported for nothing).
        pydantic_module = sys.modules.get("pydantic")
        if pydantic_module is None or not isinstance(exc, pydantic_module.ValidationError):
            raise
        from kg.config import setting_errors  # noqa: PLC0415

        for line in setting_errors(exc):
            _error(f"bad setting {line}")
        return EXIT_DATA
    except BrokenPipeError:
        # The reader went away (`kg query … | head`): stop quietly, as Python's docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED


def _error(message: str) -> None:
    print(f"kg: error: {message}", file=sys.stderr)


def _settings(args: argparse.Namespace) -> Settings:
    from kg.config import Settings  # noqa: PLC0415

    overrides = {
        field: value
        for field in _GLOBAL_SETTINGS
        if (value := getattr(args, field, None)) is not None
    }
    return Settings(**overrides)


class _NotQuick(Exception):
    """The command line is not a plain `kg build`: the full parser handles it."""


class _QuickParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _NotQuick(message)


def _unchanged_build(argv: list[str]) -> int | None:
    """`kg build` when the current build was made from the same inputs (kg.fingerprint):
    answered here, before pydantic, rdflib and the full parser load; else None."""
    if any(a in ("-h", "--help", "--version") or a.startswith("--h") for a in argv):
        return None
    parser = _QuickParser(add_help=False)
    _add_globals(parser, default=None)
    commands = parser.add_subparsers(dest="command")
    _add_globals(commands.add_parser("build", add_help=False), default=argparse.SUPPRESS)
    try:
        args = parser.parse_args(argv)
    except _NotQuick:
        return None
    if args.command != "build":
        return None
    overrides = {field: getattr(args, field, None) for field in _GLOBAL_SETTINGS}
    values = quick_settings(overrides, os.environ, Path.cwd())
    if values is None:
        return None
    var_dir = Path(values["var_dir"])
    try:
        inputs = build_inputs(
            data_dir=Path(values["data_dir"]),
            ontology_dir=Path(values["ontology_dir"]),
            base_iri=str(values["base_iri"]),
        )
        result = unchanged_build(var_dir, inputs)
    except (OSError, ValueError):  # an unreadable input: the full build reports it properly
        return None
    if result is None:
        return None
    print(
        f"unchanged: the current build {result.build_id} was made from the same inputs",
        file=sys.stderr,
    )
    print(f"{result.build_id} unchanged ({result.triples} quads)")
    _print_updates(var_dir, result.build_id)
    return EXIT_OK


# --- the parser ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from kg.export import FORMATS  # noqa: PLC0415

    # The global options are accepted before and after the command name: `kg --var-dir X build`
    # and `kg build --var-dir X`. SUPPRESS keeps a subcommand's absent option from erasing them.
    common = argparse.ArgumentParser(add_help=False)
    _add_globals(common, default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="kg",
        description="The Guangzhou–Qiannan cooperation knowledge graph (广黔协作).",
    )
    parser.add_argument("--version", action="version", version=f"kg {__version__}")
    _add_globals(parser, default=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    command("build", _build, "compile, validate and publish the dataset as var/current")
    command("validate", _validate, "compile and validate the data; print the SHACL report")

    stats = command("stats", _stats, "counts: entities by class, claims by evidence, …")
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")

    export_cmd = command("export", _export, "write the current build's dataset in an RDF format")
    what = export_cmd.add_mutually_exclusive_group(required=True)
    what.add_argument("--format", choices=sorted(FORMATS))
    what.add_argument(
        "--network", choices=sorted(NETWORK_FORMATS), help="the network (GEXF, GraphML, JSON)"
    )
    export_cmd.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    query = command("query", _query, "run a SPARQL query on the current build or an endpoint")
    source = query.add_mutually_exclusive_group()
    source.add_argument("text", nargs="?", metavar="QUERY", help="SPARQL query text")
    source.add_argument("-f", "--file", type=Path, help="read the query from FILE")
    source.add_argument("--name", help="a named query from ontology/queries")
    source.add_argument("--list", action="store_true", help="list the named queries")
    query.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a named query's parameter (repeatable)",
    )
    query.add_argument("--endpoint", metavar="URL", help="a SPARQL 1.1 endpoint to query")
    query.add_argument("--format", choices=list(QUERY_FORMATS), default="table")
    query.add_argument("--timeout", type=float, help="seconds (default: the configured one)")

    serve = command("serve", _serve, "serve the API and SPARQL endpoint with uvicorn")
    serve.add_argument("--host", help="address to bind (default: settings, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: settings, 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve.add_argument(
        "--workers", type=int, help="HTTP server processes (default: settings, KG_SERVE_WORKERS)"
    )
    _add_network_commands(command)
    return parser


def _add_globals(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--data-dir", type=Path, default=default, help="curated data folder")
    parser.add_argument("--var-dir", type=Path, default=default, help="builds folder")
    parser.add_argument("--base-iri", default=default, help="base of every data IRI")


# --- commands ------------------------------------------------------------------------------


def _build(_args: argparse.Namespace, settings: Settings) -> int:
    result = build(settings, log=lambda message: print(message, file=sys.stderr))
    state = "unchanged" if result.unchanged else "built"
    print(f"{result.build_id} {state} ({result.triples} quads)")
    _print_updates(settings.var_dir, result.build_id)
    return EXIT_OK


def _print_updates(var_dir: Path, current: str | None) -> None:
    """Say where SPARQL updates live (never in a build): see kg.updates."""
    if not (var_dir / UPDATES_DIR).exists():
        return  # no journal, no copies: nothing to say
    from kg.updates import summary  # noqa: PLC0415

    for line in summary(var_dir).lines(current):
        print(line, file=sys.stderr)


def _validate(_args: argparse.Namespace, settings: Settings) -> int:
    # Imported on use: they load rdflib and pyshacl, which the other commands do not need.
    from kg.compile import compile_dataset  # noqa: PLC0415
    from kg.validate import validate  # noqa: PLC0415

    report = validate(compile_dataset(settings), settings.ontology_dir, base_iri=settings.base_iri)
    print(report.text().rstrip())
    return EXIT_OK if report.conforms else EXIT_FAILED


def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from kg.stats import collect_stats  # noqa: PLC0415

    sections = _run(
        _with_store(settings, lambda store: collect_stats(store, _queries_dir(settings)))
    )
    if args.json:
        body = {s.key: s.as_json() for s in sections}
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        _print_sections(sections, _Compactor(settings.base_iri), sys.stdout)
    # The counts are the build's; updates sit on top of it (on stderr, so --json stays clean).
    current = find_current(settings.var_dir)
    _print_updates(settings.var_dir, current.name if current is not None else None)
    return EXIT_OK


def _print_sections(sections: Sequence[Section], compact: _Compactor, out: TextIO) -> None:
    for index, section in enumerate(sections):
        if index:
            print(file=out)
        print(f"{section.summary} (total {section.total})", file=out)
        rows = [[compact(key) or "(none)", str(count)] for key, count in section.rows]
        _print_table(list(section.columns), rows, out, right=(1,))


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from kg.export import export, export_file  # noqa: PLC0415

    if args.network:
        return _export_network(args, settings)
    if args.output is None:
        export(settings.var_dir, args.format, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        export_file(settings.var_dir, args.format, args.output)
    return EXIT_OK


def _query(args: argparse.Namespace, settings: Settings) -> int:
    from kg.catalogue import bind_typed  # noqa: PLC0415
    from kg.queries import get_query, load_queries  # noqa: PLC0415
    from kg.store.base import QueryRequest  # noqa: PLC0415

    if args.list:
        _print_query_list(load_queries(_queries_dir(settings)), sys.stdout)
        return EXIT_OK
    text = _query_text(args, settings)
    if args.endpoint:
        settings = settings.model_copy(update={"store": "remote", "remote_url": args.endpoint})

    async def run(store: Store) -> QueryResult:
        query = text
        graphs: tuple[str, ...] = ()
        if args.name:
            # iri parameters take ids, codes and names too (kg.catalogue.bind_typed).
            named = get_query(args.name, _queries_dir(settings))
            query = await bind_typed(store, named, _params(args.param), base=settings.base_iri)
            graphs = named.default_graphs(settings.base_iri)
        request = QueryRequest(
            query=query,
            accept=QUERY_FORMATS[args.format],
            timeout=args.timeout,
            default_graph_uris=graphs,
        )
        return await store.query(request)

    result = _run(_with_store(settings, run))
    _print_result(result, args.format, _Compactor(settings.base_iri))
    return EXIT_OK


def _query_text(args: argparse.Namespace, settings: Settings) -> str:
    from kg.queries import get_query  # noqa: PLC0415

    if args.param and not args.name:
        raise BadParameter("--param only goes with --name")
    if args.name:
        named = get_query(args.name, _queries_dir(settings))
        for name in _params(args.param):
            named.param(name)  # an unknown name fails before any store is opened
        return ""  # bound once the store is open (names and ids resolve against it)
    if args.file:
        return Path(args.file).read_text(encoding="utf-8")
    if args.text:
        return str(args.text)
    if not sys.stdin.isatty():
        return sys.stdin.read()
    raise BadParameter("give a query: QUERY, -f FILE, --name NAME, or on standard input")


def _params(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadParameter(f"--param {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def _print_query_list(queries: dict[str, NamedQuery], out: TextIO) -> None:
    rows = [
        [
            q.name,
            ", ".join(_describe(p) for p in q.params),
            q.summary,
        ]
        for q in queries.values()
    ]
    _print_table(["name", "params", "summary"], rows, out)


def _describe(param: Param) -> str:
    if param.default is not None:
        return f"{param.name}: {param.type} = {param.default}"
    return f"{param.name}: {param.type}{'?' if param.optional else ''}"


def _print_result(result: QueryResult, fmt: str, compact: _Compactor) -> None:
    if result.kind == "boolean" and fmt != "json":
        results_format = ox.QueryResultsFormat.from_media_type(result.media_type)
        answer = ox.parse_query_results(result.body, format=results_format)
        print("true" if bool(answer) else "false")
        return
    if fmt != "table" or result.kind != "solutions":
        sys.stdout.buffer.write(result.body)
        if not result.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
        return
    from kg.queries import parse_solutions  # noqa: PLC0415

    solutions = parse_solutions(result.body)
    rows = [[_cell(row.get(v), compact) for v in solutions.variables] for row in solutions.rows]
    _print_table(list(solutions.variables), rows, sys.stdout)
    more = " (truncated)" if result.truncated else ""
    print(f"{len(rows)} row{'s' if len(rows) != 1 else ''}{more}", file=sys.stderr)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from kg.config import get_settings  # noqa: PLC0415

    # The app factory reads its Settings through get_settings(), in this process or in the
    # reloader's child: hand the command-line overrides over as KG_* variables.
    for field in _GLOBAL_SETTINGS:
        if getattr(args, field, None) is not None:
            os.environ[f"KG_{field.upper()}"] = str(getattr(settings, field))
    get_settings.cache_clear()
    # Say "run kg build first" here, in one line, rather than as a failed app start-up.
    from kg.store.factory import check_store, follows_builds  # noqa: PLC0415

    check_store(settings)
    if follows_builds(settings):
        served = find_current(settings.var_dir)
        if served is not None:
            created = read_manifest(served).get("created", "?")
            print(f"kg: serving build {served.name} (made {created})", file=sys.stderr)
    from api.http import LimitedHttpProtocol  # noqa: PLC0415

    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        reload=args.reload,
        workers=_web_processes(args, settings),
        http=LimitedHttpProtocol,
        log_config=_log_config(),
        # A client has this long to send its next request on an open connection.
        timeout_keep_alive=5,
    )
    return EXIT_OK


# --- network commands: kg map, kg network, kg export --network ---------------------------


def _add_network_commands(command: Callable[[str, Handler, str], argparse.ArgumentParser]) -> None:
    map_cmd = command("map", _map, "write a network map as one self-contained HTML file")
    map_cmd.add_argument("kind", choices=[*MAP_KINDS, "query"])
    map_cmd.add_argument("entity", nargs="?", help="entity map: an IRI, id:…, code or name")
    map_cmd.add_argument("-o", "--output", type=Path, required=True, help="HTML file to write")
    map_cmd.add_argument("--hops", type=int, default=2, help="entity map: steps (default 2)")
    map_cmd.add_argument("--lang", choices=["zh", "en"], default="zh")
    map_cmd.add_argument("--year", help="2019, 2016-2020 or 2021-: edges active then")
    for flag in ("level", "type", "relation", "evidence"):
        map_cmd.add_argument(f"--{flag}", action="append", default=[], help="repeatable filter")
    map_cmd.add_argument("--name", help="query map: a named query (SELECT ?source ?target …)")
    map_cmd.add_argument("-f", "--file", type=Path, help="query map: a SPARQL file")
    map_cmd.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="named query parameter"
    )

    network = command("network", _network, "network analysis: hubs, components, paths, periods")
    network.add_argument(
        "analysis", choices=["centrality", "components", "path", "bipartite", "periods"]
    )
    network.add_argument("entities", nargs="*", help="path: the two entities")
    network.add_argument("--measure", choices=MEASURES, default="degree")
    network.add_argument("--top", type=int, default=20)
    network.add_argument("--limit", type=int, default=3, help="path: paths listed")
    network.add_argument("--year", help="only edges active then (2019, 2016-2020, 2021-)")
    network.add_argument("--json", action="store_true", help="print JSON")


def _network_graph(settings: Settings, names: Sequence[str] = ()) -> tuple[Any, list[str]]:
    """The projection, and the nodes ``names`` resolve to (as the REST API resolves them)."""
    from kg.network.service import NetworkCache, resolve_node  # noqa: PLC0415

    async def work(store: Store) -> tuple[Any, list[str]]:
        graph = await NetworkCache.of(settings).graph(store)
        nodes = [await resolve_node(store, graph, n, settings.base_iri) for n in names]
        return graph, nodes

    return _run(_with_store(settings, work))


def _entity_graph(settings: Settings, text: str, hops: int) -> tuple[Any, list[str]]:
    """An entity's local projection (as /maps/entity/ builds it) and the entity's node; for a
    claim (a pairing, …: an edge, not a node), its edge and two ends, and no node."""
    from kg.network.service import claim_edges, entity_neighbourhood  # noqa: PLC0415

    async def work(store: Store) -> tuple[Any, list[str]]:
        node, graph = await entity_neighbourhood(
            store,
            _queries_dir(settings),
            text,
            settings.base_iri,
            hops=hops,
            max_nodes=settings.map_max_nodes,
        )
        if node not in graph:
            edges = await claim_edges(
                store, _queries_dir(settings), node, max_nodes=settings.map_max_nodes
            )
            if edges is None:
                raise NotFound(f"{text!r} ({node}) is not an entity of the network")
            return edges, []
        return graph, [node]

    return _run(_with_store(settings, work))


def _query_map(args: argparse.Namespace, settings: Settings) -> int:
    from kg.network.project import graph_from_query  # noqa: PLC0415
    from kg.network.render import MapOptions, render_map  # noqa: PLC0415
    from kg.queries import get_query  # noqa: PLC0415

    if bool(args.name) == bool(args.file):
        raise BadParameter("kg map query needs --name NAME or -f FILE")
    named = get_query(args.name, _queries_dir(settings)) if args.name else None
    if named is not None:
        title = named.summary
    else:
        text, title = Path(args.file).read_text(encoding="utf-8"), str(args.file)

    async def work(store: Store) -> Any:
        # iri parameters take ids, codes and names too, as for kg query.
        from kg.catalogue import bind_typed  # noqa: PLC0415

        query = (
            text
            if named is None
            else await bind_typed(store, named, _params(args.param), base=settings.base_iri)
        )
        graphs = named.default_graphs(settings.base_iri) if named is not None else ()
        return await graph_from_query(
            store,
            query,
            _queries_dir(settings),
            default_graphs=graphs,
            max_nodes=settings.map_max_nodes,
        )

    graph = _run(_with_store(settings, work))
    options = MapOptions(kind="query", title=title, lang=args.lang, self_contained=True)
    rendered = render_map(graph, options)
    args.output.write_text(rendered.html, encoding="utf-8")
    print(f"{args.output}: {rendered.nodes} nodes, {rendered.edges} edges", file=sys.stderr)
    return EXIT_OK


def _map(args: argparse.Namespace, settings: Settings) -> int:
    from kg.network.service import MapRequest, build_map  # noqa: PLC0415

    if args.kind == "query":
        return _query_map(args, settings)

    if args.kind == "entity":
        graph, nodes = _entity_graph(settings, args.entity or "", args.hops)
        if not nodes:  # a claim: its edge
            from kg.network.service import build_claim_map  # noqa: PLC0415

            claim = build_claim_map(
                graph, lang=args.lang, base_iri=settings.base_iri, self_contained=True
            )
            args.output.write_text(claim.html, encoding="utf-8")
            print(f"{args.output}: {claim.nodes} nodes, {claim.edges} edges", file=sys.stderr)
            return EXIT_OK
    else:
        graph, nodes = _network_graph(settings, [args.entity] if args.entity else [])
    request = MapRequest(
        kind=args.kind,
        entity=nodes[0] if nodes else None,
        hops=args.hops,
        lang=args.lang,
        year=args.year,
        levels=args.level,
        types=args.type,
        relations=args.relation,
        evidence=args.evidence,
        self_contained=True,
    )
    rendered = build_map(graph, request, settings.base_iri)
    args.output.write_text(rendered.html, encoding="utf-8")
    print(f"{args.output}: {rendered.nodes} nodes, {rendered.edges} edges", file=sys.stderr)
    return EXIT_OK


def _network(args: argparse.Namespace, settings: Settings) -> int:
    from kg.network import analysis  # noqa: PLC0415
    from kg.network.service import MapRequest, select_subgraph  # noqa: PLC0415

    if args.analysis == "path" and len(args.entities) != 2:
        raise BadParameter("kg network path needs two entities: FROM TO")
    if args.analysis == "periods":  # the district-county pairings only (as the REST route)
        from kg.network.project import load_pairings_at  # noqa: PLC0415

        async def pairings(store: Store) -> Any:
            return await load_pairings_at(
                store,
                _queries_dir(settings),
                "DistrictToCounty",
                max_claims=settings.network_max_claims,
            )

        graph, nodes = _run(_with_store(settings, pairings)), list[str]()
    else:
        graph, nodes = _network_graph(settings, args.entities if args.analysis == "path" else [])
    if args.year:
        graph = select_subgraph(
            graph, MapRequest(kind="network", year=args.year), settings.base_iri
        )
    answer: pydantic.BaseModel
    if args.analysis == "centrality":
        answer = analysis.centrality(graph, args.measure, args.top)
    elif args.analysis == "components":
        answer = analysis.components(graph, args.top)
    elif args.analysis == "path":
        answer = analysis.shortest_paths(graph, nodes[0], nodes[1], args.limit)
    elif args.analysis == "bipartite":
        answer = analysis.bipartite(graph)
    else:
        answer = analysis.compare_periods(graph)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        _print_analysis(answer, _Compactor(settings.base_iri), sys.stdout)
    return EXIT_OK


def _name(node: Any, compact: _Compactor) -> str:
    return f"{node.label_zh or node.label_en} ({compact(node.id)})"


def _print_analysis(answer: pydantic.BaseModel, compact: _Compactor, out: TextIO) -> None:
    from kg.network import models  # noqa: PLC0415

    if isinstance(answer, models.CentralityAnswer):
        rows = [[_name(r.node, compact), f"{r.score:.4f}", str(r.degree)] for r in answer.ranking]
        _print_table(["entity", answer.measure, "degree"], rows, out, right=(1, 2))
    elif isinstance(answer, models.ComponentsAnswer):
        print(f"{answer.count} components", file=out)
        for part in answer.components:
            names = ", ".join(m.label_zh or compact(m.id) for m in part.members[:8])
            print(f"{part.size:5d}  {names}{' …' if part.size > 8 else ''}", file=out)
    elif isinstance(answer, models.PathAnswer):
        if answer.length is None:
            print("not connected", file=out)
        for number, path in enumerate(answer.paths, start=1):
            print(f"path {number} ({answer.length} hops)", file=out)
            for hop in path:
                print(f"  {_name(hop.source, compact)} — {_name(hop.target, compact)}", file=out)
                for fact in hop.facts:
                    span = f" {fact.start}–{fact.end}" if fact.start or fact.end else ""
                    print(f"    {fact.relation} {fact.level}{span} [{fact.evidence}]", file=out)
                    for citation in fact.citations:
                        print(f"      “{citation.text}” ({compact(citation.sentence)})", file=out)
    elif isinstance(answer, models.BipartiteAnswer):
        rows = [
            [_name(p.district, compact), _name(p.county, compact), ", ".join(p.periods)]
            for p in answer.pairs
        ]
        _print_table(["district", "county", "periods"], rows, out)
    elif isinstance(answer, models.PeriodsAnswer):
        rows = [
            [
                p.period,
                str(p.pairings),
                str(p.helpers),
                str(p.recipients),
                str(len(p.added)),
                str(len(p.ended)),
            ]
            for p in answer.periods
        ]
        header = ["period", "pairings", "helpers", "recipients", "added", "ended"]
        _print_table(header, rows, out, right=(1, 2, 3, 4, 5))


def _export_network(args: argparse.Namespace, settings: Settings) -> int:
    from kg.network.export import export_network  # noqa: PLC0415

    body = export_network(_network_graph(settings)[0], args.network)
    if args.output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    else:
        Path(args.output).write_bytes(body)
    return EXIT_OK


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus kg's own loggers at INFO (build switches, replays)."""
    from uvicorn.config import LOGGING_CONFIG  # noqa: PLC0415

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["kg"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


# --- helpers -------------------------------------------------------------------------------


def _web_processes(args: argparse.Namespace, settings: Settings) -> int:
    """HTTP processes: the web layer holds one core per process (the GIL), so more processes
    serve more cached answers; but updates must reach one store, and --reload runs one."""
    if args.reload or settings.update_token:
        return 1
    return int(args.workers or settings.serve_workers)


def _run(work: Coroutine[Any, Any, T]) -> T:
    import asyncio  # noqa: PLC0415

    return asyncio.run(work)


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    from kg.store.factory import open_store  # noqa: PLC0415 - starts engines; load on use

    store = await open_store(settings)
    try:
        return await work(store)
    finally:
        await store.close()


def _queries_dir(settings: Settings) -> Path:
    return settings.ontology_dir / "queries"


def _cell(term: Term | None, compact: _Compactor) -> str:
    if term is None:
        return ""
    if isinstance(term, ox.NamedNode):
        return compact(term.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return str(term.value)


class _Compactor:
    """Shortens IRIs for people: the vocabularies' prefixes, and ``id:`` for the data."""

    def __init__(self, base_iri: str) -> None:
        from kg.export import PREFIXES  # noqa: PLC0415

        vocabularies = [(ns, f"{prefix}:") for prefix, ns in PREFIXES.items()]
        self._namespaces = [*vocabularies, (f"{base_iri}id/", "id:")]

    def __call__(self, iri: str) -> str:
        for namespace, prefix in self._namespaces:
            if iri.startswith(namespace) and len(iri) > len(namespace):
                return prefix + iri[len(namespace) :]
        return iri


def _width(text: str) -> int:
    # CJK characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fit(text: str) -> str:
    text = " ".join(text.split())  # no newlines or tabs inside a cell
    if _width(text) <= MAX_CELL:
        return text
    cut = []
    width = 0
    for char in text:
        width += _width(char)
        if width > MAX_CELL - 1:
            break
        cut.append(char)
    return "".join(cut) + "…"


def _print_table(
    header: list[str], rows: list[list[str]], out: TextIO, right: tuple[int, ...] = ()
) -> None:
    cells = [[_fit(c) for c in row] for row in [header, *rows]]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        padded = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            padded.append(pad + cell if i in right else cell + pad)
        return "  ".join(padded).rstrip()

    print(line(cells[0]), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells[1:]:
        print(line(row), file=out)


if __name__ == "__main__":
    sys.exit(main())
