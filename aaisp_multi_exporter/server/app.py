"""The HTTP surface: the app factory, its routes and the probe handler."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiohttp import hdrs, web, web_response
from aiohttp.typedefs import Middleware

from aaisp_multi_exporter import __version__
from aaisp_multi_exporter.config import ConfigError, render_config_toml
from aaisp_multi_exporter.obs.logs import fields
from aaisp_multi_exporter.obs.throttle import LogThrottle
from aaisp_multi_exporter.probe.exposition import Format, gzip_wanted, negotiate
from aaisp_multi_exporter.probe.log import ProbeLog
from aaisp_multi_exporter.probe.report import debug_report
from aaisp_multi_exporter.probe.request import (
    MAX_ECHO,
    SCRAPE_TIMEOUT_HEADER,
    BadTimeoutHeader,
    ProbeRejected,
    ProbeRequest,
    echo,
    parse_auth,
    parse_modules,
    probe_timeout,
)
from aaisp_multi_exporter.probe.run import run_probe
from aaisp_multi_exporter.probe.slots import TooManyProbes
from aaisp_multi_exporter.server.history import logs_response
from aaisp_multi_exporter.server.pages import render_landing
from aaisp_multi_exporter.server.state import ExporterState, Loaded
from aaisp_multi_exporter.web import Authenticator, WebConfigWatcher, basic_auth_middleware
from aaisp_multi_exporter.web.paths import ROOT, WebPaths

LOGGER = logging.getLogger("aaisp_multi_exporter")
TEXT = "text/plain"
#: Probe answers are small; a low level costs little CPU for most of the saving.
GZIP_LEVEL = 1
#: At most one "internal error" line (with its traceback) per path and error per interval.
ERROR_LOG_SECONDS = 10.0


#: The ``Server`` header of every answer: the product, never its or Python's version.
SERVER_HEADER = "aaisp-multi-exporter"

STATE = web.AppKey("state", ExporterState)
PATHS = web.AppKey("paths", WebPaths)


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body if body.endswith("\n") else body + "\n", status=status, content_type=TEXT
    )


def _errors(throttle: LogThrottle) -> Middleware:
    """An exporter bug is a 500 for that request, never the end of the process, and never a
    traceback per request: one line per path and exception type per interval, with the
    traceback and a count of those held back (docs/design.md, No input is a 500)."""

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as error:
            held_back = throttle.admit((request.path, type(error).__name__))
            if held_back is not None:
                LOGGER.exception(
                    "internal error",
                    extra=fields(path=request.path, suppressed=held_back),
                )
            return _text("internal error; the exporter log has the details", status=500)

    return errors


def _refuse(
    request: web.Request, rejected: ProbeRejected, log_key: str | None = None
) -> web.Response:
    """Answer a refused request, and log it and list it on ``/`` so a bad job is visible."""
    request.app[STATE].rejections.add(
        request.path,
        rejected.reason,
        rejected.message,
        value=rejected.value,
        status=rejected.status,
        log_key=log_key,
    )
    return _text(rejected.message, status=rejected.status)


def _require_loaded(state: ExporterState) -> Loaded:
    """The configuration in force, read once for the whole request."""
    loaded = state.loaded
    if loaded is None:
        raise web.HTTPServiceUnavailable(text="no valid configuration loaded\n")
    return loaded


async def probe(request: web.Request) -> web.Response:
    state = request.app[STATE]
    loaded = _require_loaded(state)
    parser, config, fetcher = loaded.parser, loaded.config, loaded.fetcher
    metrics = state.metrics
    try:
        raw_query = request.rel_url.raw_query_string
        probe_request = parser.known(raw_query) or parser.parse(request.query, raw_query)
        timeout = _timeout_of(request, probe_request, state.timeout_offset)
    except ProbeRejected as rejected:
        metrics.rejected.labels(rejected.reason).inc()
        return _refuse(request, rejected)
    log = ProbeLog(
        target=probe_request.target,
        module=probe_request.plan.module_list,
        auth=probe_request.plan.auth_list,
    )
    try:
        result = await run_probe(probe_request, fetcher, state.services, timeout, log)
    except TooManyProbes as busy:
        # A probe that would start a CHAOS call beyond --web.max-requests is refused at once
        # rather than queued: a queue would only answer after the scrape timeout, and grows
        # without bound under a flood. One that only waits for a call in flight is never.
        metrics.rejected.labels("too_many_requests").inc()
        return _refuse(request, ProbeRejected("too_many_requests", str(busy), status=503))
    # Every probe is kept, as blackbox_exporter does, so /logs can explain a failed scrape;
    # its report is rendered only when someone asks for it.
    report = functools.partial(debug_report, log, result, probe_request, config)
    state.history.add(
        target=probe_request.target,
        modules=probe_request.module_names,
        auths=probe_request.auth_names,
        success=result.success,
        duration=result.duration,
        debug_text=report,
        module_results=result.modules,
    )
    if probe_request.debug:
        return _text(report())
    return _negotiated(request, functools.partial(state.renderer.render, result))


def _negotiated(request: web.Request, body_in: Callable[[Format], bytes]) -> web.Response:
    """Text or OpenMetrics as the scraper asks, gzipped when it accepts that (as promhttp).

    Every ``Accept`` line counts (RFC 9110 lets a client split the list); the answer's
    ``Content-Type`` is the format's own fixed string."""
    request_headers = request.headers
    accept = request_headers.getall(hdrs.ACCEPT, ())
    fmt = negotiate(accept[0] if len(accept) == 1 else ",".join(accept))
    body = body_in(fmt)
    headers = {hdrs.CONTENT_TYPE: fmt.content_type, hdrs.VARY: "Accept, Accept-Encoding"}
    if gzip_wanted(",".join(request_headers.getall(hdrs.ACCEPT_ENCODING, ()))):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    return web.Response(body=body, headers=headers)


async def self_metrics(request: web.Request) -> web.Response:
    """``/metrics``: the exporter's own registry, negotiated like a probe (and, as
    prometheus_client's handler does, ``name[]`` restricts it to those families)."""
    registry = request.app[STATE].metrics.registry
    names = request.query.getall("name[]", [])
    source = registry.restricted_registry(names) if names else registry
    return _negotiated(request, lambda fmt: fmt.encoder(source))


def _timeout_of(request: web.Request, probe_request: ProbeRequest, offset: float) -> float:
    header = request.headers.get(SCRAPE_TIMEOUT_HEADER)
    try:
        return probe_timeout(header, offset, probe_request.plan.module_timeout)
    except BadTimeoutHeader as error:
        raise ProbeRejected("invalid_timeout_header", str(error), value=header) from None


async def discover(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    loaded = _require_loaded(state)
    config = loaded.config
    try:
        auth = parse_auth(request.query.getall("auth", []), config.auths)
        modules = request.query.getall("module", [])
        if len(modules) > 1:
            raise ProbeRejected("unknown_module", 'parameter "module" may be given at most once')
        module = parse_modules(modules, config.modules)[0].name if modules else None
    except ProbeRejected as rejected:
        return _refuse(request, rejected)
    auths = [auth] if auth is not None else list(config.auths.values())
    metrics_path = request.app[PATHS].metrics_path
    discovered = await state.discovery.discover(
        loaded.fetcher,
        config,
        auths,
        module,
        commands=loaded.commands,
        metrics_path=metrics_path,
    )
    if auth is not None and auth.name in discovered.never_answered:
        # An empty list would look like an account with no lines; say what is wrong instead,
        # so Prometheus shows the error on the job.
        reason = discovered.never_answered[auth.name]
        return _text(f'auth "{auth.name}" has never answered discovery: {reason}', status=503)
    async with contextlib.aclosing(discovered.pieces) as pieces:
        if request.method == hdrs.METH_HEAD:  # a StreamResponse would send the body anyway
            return web.Response(content_type="application/json")
        first = await anext(pieces)  # written before the status is sent, as is every CHAOS call
        response = web.StreamResponse()
        response.content_type = "application/json"
        if discovered.length is not None:
            response.content_length = discovered.length
        await response.prepare(request)
        try:
            await response.write(first)
            async for piece in pieces:
                await response.write(piece)
            await response.write_eof()
        except ConnectionError:  # the client went away
            return response
        except Exception:
            # The 200 is sent: cut the connection, so the client sees a broken answer rather
            # than a short one, and let the error middleware log it.
            if request.transport is not None:
                request.transport.close()
            raise
    return response


async def healthy(request: web.Request) -> web.Response:
    return _text("Healthy")


async def ready(request: web.Request) -> web.Response:
    if request.app[STATE].loaded is None:
        return _text("Not ready: no valid configuration loaded", status=503)
    return _text("Ready")


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    last = state.last_reload
    return web.json_response(
        {
            "status": "ok" if state.loaded is not None else "degraded",
            "version": __version__,
            "config_loaded": state.loaded is not None,
            "last_reload": None
            if last is None
            else {
                "time": datetime.fromtimestamp(last.at, tz=UTC).isoformat(),
                "success": last.success,
                "error": last.error,
            },
            "uptime_seconds": round(time.monotonic() - state.started, 3),
        }
    )


async def show_config(request: web.Request) -> web.Response:
    return _text(render_config_toml(_require_loaded(request.app[STATE]).config))


async def reload_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        config = state.reload()
    except ConfigError as error:
        LOGGER.error(
            "reload failed; keeping the running configuration", extra=fields(error=str(error))
        )
        return _text(f"reload failed; keeping the running configuration:\n{error}", status=500)
    LOGGER.info("configuration reloaded", extra=fields(modules=len(config.modules)))
    return _text("configuration reloaded")


async def reload_wrong_method(request: web.Request) -> web.Response:
    return web.Response(
        text="reload needs POST\n", status=405, headers={"Allow": "POST"}, content_type=TEXT
    )


async def landing(request: web.Request) -> web.Response:
    state = request.app[STATE]
    loaded = state.loaded
    page = render_landing(
        loaded.config if loaded is not None else None,
        state.history.recent(),
        history_limit=state.history.limit,
        failing=state.history.failing.current(),
        not_found=state.history.failing.not_found(),
        rejections=state.rejections.recent(),
        left_out=tuple(state.discovery.left_out.values()),
    )
    return web.Response(text=page, content_type="text/html")


async def logs(request: web.Request) -> web.Response:
    response = logs_response(request.query, request.app[STATE].history)
    if response.reason is not None:
        refused = ProbeRejected(
            response.reason, response.text, response.status, value=response.value
        )
        return _refuse(request, refused)
    return _text(response.text, status=response.status)


def create_app(
    state: ExporterState,
    *,
    middlewares: Sequence[Middleware] = (),
    web_config: WebConfigWatcher | None = None,
    authenticator: Authenticator | None = None,
    paths: WebPaths = ROOT,
) -> web.Application:
    """The exporter as an aiohttp app; the command line and every test server use this.

    The app owns the CHAOS session (``cleanup_ctx``): opened when the server starts, closed
    when it stops, after background refreshes end. ``middlewares`` (the connection guard)
    come first; with ``web_config`` (``--web.config.file``), basic auth is next, so it sees
    every request before the exporter does, and the configured headers go on every answer.
    Every route lives under ``paths.route_prefix`` (``--web.route-prefix``).
    """
    if web_config is not None:
        if authenticator is None:
            raise ValueError("web_config needs its authenticator (the caller owns and closes it)")
        middlewares = [*middlewares, basic_auth_middleware(web_config, authenticator)]
    middlewares = [*middlewares, _errors(LogThrottle(ERROR_LOG_SECONDS))]
    if paths.route_prefix:
        middlewares.append(_outside_prefix(paths.route_prefix))
    app = web.Application(middlewares=middlewares)
    app[STATE] = state
    app[PATHS] = paths
    app.cleanup_ctx.append(_chaos_session)
    _hide_versions()
    app.on_response_prepare.append(_server_header)
    if web_config is not None:
        app.on_response_prepare.append(web_config.add_headers)
    route = paths.route
    app.router.add_get(route("/"), landing)
    app.router.add_get(route("/probe"), probe)
    app.router.add_get(route("/metrics"), self_metrics)
    app.router.add_get(route("/config"), show_config)
    app.router.add_get(route("/logs"), logs)
    app.router.add_get(route("/discover"), discover)
    app.router.add_get(route("/health"), health)
    app.router.add_get(route("/-/healthy"), healthy)
    app.router.add_get(route("/-/ready"), ready)
    app.router.add_post(route("/-/reload"), reload_config)
    app.router.add_route("*", route("/-/reload"), reload_wrong_method)
    if paths.route_prefix:
        # As Prometheus: the root sends a browser to the prefix, and the prefix itself to
        # its landing page, whose relative links need the trailing slash.
        app.router.add_get("/", _to_home)
        app.router.add_get(paths.route_prefix, _to_home)
    return app


def _outside_prefix(prefix: str) -> Middleware:
    """Under ``--web.route-prefix``, a request outside it is a job that forgot the prefix in
    its ``metrics_path``: answer 404 with the path it meant, count it and log it (throttled,
    one line for every path), so the mistake shows on the exporter's side too."""
    inside = prefix + "/"

    @web.middleware
    async def outside(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        path = request.path
        if path in ("/", prefix) or path.startswith(inside):
            return await handler(request)
        shown = path if len(path) <= MAX_ECHO and path.isprintable() else echo(path)
        rejected = ProbeRejected(
            "outside_route_prefix", f"served under {prefix}: try {prefix}{shown}", status=404
        )
        request.app[STATE].metrics.rejected.labels(rejected.reason).inc()
        return _refuse(request, rejected, log_key=rejected.reason)

    return outside


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[hdrs.SERVER] = SERVER_HEADER


def _hide_versions() -> None:
    """aiohttp names itself and Python with their versions in ``Server``, also on the
    answers it makes before any route or signal runs (a malformed request's 400): its
    default is replaced for the process."""
    web_response.SERVER_SOFTWARE = SERVER_HEADER  # type: ignore[attr-defined]  # its import


async def _to_home(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.app[PATHS].home)


async def _chaos_session(app: web.Application) -> AsyncIterator[None]:
    services = app[STATE].services
    await services.client.open()
    try:
        yield
    finally:
        await services.store.close()  # refreshes in flight end before their session does
        await services.client.close()
