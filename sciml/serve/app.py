"""The prior service: the :class:`~sciml.prior.Prior` / ``Calibration`` API behind HTTP.

``create_app`` builds a FastAPI application serving saved priors:

* ``GET /health``, ``GET /priors``, ``GET /priors/{name}`` (input schema with units, held-out
  metrics, provenance, the JSON schemas of its request bodies);
* ``POST /priors/{name}/calibrate`` (support in the prior's native form) -> a calibration id;
  ``POST /calibrations/{id}/predict``, ``POST /calibrations/{id}/suggest-next`` (laws),
  ``GET /calibrations/{id}/plot.svg`` (laws), ``DELETE /calibrations/{id}``;
* ``POST /priors/{name}/predict``: support and query together, nothing stored;
* ``/``: a calibration page; ``/docs``: the OpenAPI documentation.

Calibrations live in a bounded, expiring :class:`~sciml.serve.store.CalibrationStore`. Work runs
in a bounded thread pool, off the event loop. Every malformed request is answered 4xx with a
message naming the field or the limit.
"""

import hmac
import io
import logging
import math
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sciml._version import __version__
from sciml.serve.limits import LimitExceeded, Limits
from sciml.serve.payloads import STRICT, Number, Payloads, payloads_for
from sciml.serve.store import CalibrationStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sciml.prior import Calibration, Prior

log = logging.getLogger("sciml.serve")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Prior names the service accepts: letters, digits, '.', '_' and '-' (no path separators)."""


@dataclass(frozen=True)
class Served:
    """A prior with its request models."""

    name: str
    prior: "Prior"
    payloads: Payloads
    lock: threading.Lock
    """Held by work on this prior: ``torch.func.functional_call`` swaps a module's parameters
    while it runs, so two threads must not use one prior's modules at once."""


class ServiceError(Exception):
    """An error answered with ``status`` and ``message`` (never a server error)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _import_fastapi() -> Any:
    try:
        import fastapi
    except ImportError:
        raise ImportError("The prior service needs FastAPI and uvicorn: pip install 'sciml[serve]'.") from None
    return fastapi


def load_priors(paths: Sequence[str | Path]) -> "dict[str, Prior]":
    """Load prior folders by name (the folder name), refusing duplicate or unsafe names.

    Raises:
        ValueError: for two priors with one name or a name the service cannot route.
    """
    from sciml.prior import load_prior

    out: dict[str, Prior] = {}
    for p in paths:
        path = Path(p)
        name = path.resolve().name
        if not NAME.match(name):
            raise ValueError(f"{path}: the folder name {name!r} cannot name a prior in URLs; rename it to letters, digits, '.', '_', '-'.")
        if name in out:
            raise ValueError(f"Two priors named {name!r}: rename one of the folders.")
        out[name] = load_prior(path)
    return out


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: Any) -> list[dict[str, Any]]:
    """A table as JSON-ready records."""
    return jsonable(frame.to_dict(orient="records"))


def _errors(exc: Any) -> list[dict[str, str]]:
    """pydantic errors as ``{"field": "rows.0.time", "message": ...}``."""
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        out.append({"field": ".".join(loc) or "body", "message": e.get("msg", "invalid")})
    return out


def _validation_message(errors: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return f"Invalid request: {shown}{more}."


INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, TypeError, FloatingPointError, IndexError)
"""Errors of the library on bad input: answered 422 with their message."""


def _run_user_input(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
    """``fn()`` with the library's input errors turned into 422/413 and its warnings collected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except LimitExceeded:
            raise  # a ValueError, but answered 413 by its own handler
        except INPUT_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            raise ServiceError(422, str(message)) from None
    notes = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, ResourceWarning))]
    return result, list(dict.fromkeys(notes))


def create_app(
    priors: "Mapping[str, Prior]",
    *,
    token: str | None = None,
    limits: Limits | None = None,
    store: CalibrationStore | None = None,
    threads: int = 4,
) -> "FastAPI":
    """The FastAPI application serving ``priors``.

    Args:
        priors: Priors by name (see :func:`load_priors`).
        token: Bearer token every API request must carry (``Authorization: Bearer <token>``);
            ``None`` for an open service. ``/``, ``/health`` and ``/docs`` stay open.
        limits: Request size limits.
        store: Where calibrations live (default: 1000 of them, one hour after last use).
        threads: Calibrations and predictions running at once (the rest wait their turn).

    Returns:
        The application (run it with uvicorn, or ``sciml serve``).
    """
    fastapi = _import_fastapi()
    import anyio
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from sciml.serve.body_limit import BodyLimit
    from sciml.serve.page import page_html

    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}.")
    if token is not None and not token:
        raise ValueError("token is empty: pass None for an open service, or a non-empty token.")
    limits = limits or Limits()
    store = store or CalibrationStore()
    served: dict[str, Served] = {}
    for name, prior in priors.items():
        if not NAME.match(name):
            raise ValueError(f"Prior name {name!r}: use letters, digits, '.', '_', '-' (it appears in URLs).")
        served[name] = Served(name, prior, payloads_for(prior), threading.Lock())
    suggest_models = {s.name: _suggest_model(s) for s in served.values() if s.prior.domain.kind == "law"}
    limiter = anyio.CapacityLimiter(threads)
    expected = None if token is None else token.encode()

    app = fastapi.FastAPI(title="sciml priors", version=__version__,
                          description="Calibrate meta-learned priors on a few measurements; predict with bands; plan the next experiment.")
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.state.store, app.state.limits, app.state.served = store, limits, served

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(LimitExceeded)
    async def _over_limit(request: Request, exc: LimitExceeded) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _errors(exc)
        return JSONResponse({"detail": _validation_message(errors), "errors": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 404:
            detail = f"No route {request.url.path!r}; the API is listed at /docs (priors by name under /priors/<name>)."
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path!r}; see /docs."
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"Internal error ({type(exc).__name__}); the server log has the details."}, status_code=500)

    def authorize(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise ServiceError(401, "Missing or wrong bearer token: send 'Authorization: Bearer <token>'.")

    guard = [fastapi.Depends(authorize)]

    def served_prior(name: str) -> Served:
        if name not in served:
            raise ServiceError(404, f"No prior named {name!r}; this server serves {sorted(served)}.")
        return served[name]

    def calibration(cal_id: str) -> "tuple[Calibration, Served]":
        item = store.get(cal_id)
        if item is None:
            raise ServiceError(404, f"No calibration {cal_id!r}: it never existed, was deleted, or expired "
                                    f"({store.ttl_s:g} s after its last use; at most {store.max_size} are kept). Calibrate again.")
        return item

    async def in_thread(s: Served, fn: Callable[[], Any]) -> tuple[Any, list[str]]:
        def locked() -> tuple[Any, list[str]]:
            with s.lock:
                return _run_user_input(fn)

        return await anyio.to_thread.run_sync(locked, limiter=limiter)

    def parse(model: Any, data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as err:
            errors = _errors(err)
            raise ServiceError(422, _validation_message(errors)) from None

    async def json_body(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError as err:
            raise ServiceError(422, f"The body is not valid JSON ({err}).") from None

    def describe(s: Served, full: bool) -> dict[str, Any]:
        p = s.prior
        out = {"name": s.name, "domain": p.domain.kind, "learner": p.learner.name, "description": p.describe(),
               "input": p.domain.to_dict(), "noise": p.noise, "metrics": p.metrics, "provenance": p.provenance}
        if full:
            out["training_data"] = p.training_data
            out["calibrate_schema"] = s.payloads.calibrate.model_json_schema()
            out["predict_schema"] = s.payloads.predict.model_json_schema()
            if p.domain.kind == "law":
                from sciml.prior.units import known_units

                out["unit_choices"] = {c.name: known_units(c.dimension) for c in (*p.domain.schema.inputs, p.domain.schema.target)}
        return jsonable(out)

    def calibration_reply(cal_id: str, s: Served, cal: "Calibration", notes: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": cal_id, "prior": s.name, "n_support": cal.n_support, "expires_after_s": store.ttl_s,
                               "warnings": notes}
        if s.prior.domain.kind == "law":
            out["parameters"] = records(cal.params())
            out["noise_sd"] = float(s.prior.noise["sd"])
        if hasattr(cal, "classes"):
            out["classes"] = [str(c) for c in cal.classes]
        return jsonable(out)

    def predict_reply(frame: Any, notes: list[str]) -> dict[str, Any]:
        return {"predictions": records(frame), "level": jsonable(frame.attrs.get("level")), "warnings": notes}

    # ------------------------------------------------------------------ open routes
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page_html())

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: version, priors served, calibrations held."""
        return {"status": "ok", "version": __version__, "priors": len(served), "calibrations": len(store)}

    # ------------------------------------------------------------------ priors
    @app.get("/priors", tags=["priors"], dependencies=guard)
    async def list_priors() -> list[dict[str, Any]]:
        """Every prior: domain, input schema with units, held-out metrics, provenance."""
        return [describe(s, False) for s in served.values()]

    @app.get("/priors/{name}", tags=["priors"], dependencies=guard)
    async def get_prior(name: str) -> dict[str, Any]:
        """One prior, with the JSON schemas of its calibration and prediction bodies."""
        return describe(served_prior(name), True)

    def add_prior_routes(s: Served) -> None:
        from pydantic import create_model

        cal_model, pred_model = s.payloads.calibrate, s.payloads.predict
        both = create_model(cal_model.__name__.removesuffix("Calibrate") + "SupportAndQuery", __config__=STRICT,
                            support=(cal_model, ...), query=(pred_model, ...))

        def calibrate_body(body: Any) -> "Calibration":
            args, kwargs = s.payloads.support_args(body, limits)
            return s.prior.calibrate(*args, **kwargs)

        async def calibrate(body: cal_model) -> dict[str, Any]:  # type: ignore[valid-type]
            cal, notes = await in_thread(s, lambda: calibrate_body(body))
            return calibration_reply(store.add((cal, s)), s, cal, notes)

        async def predict(body: both) -> dict[str, Any]:  # type: ignore[valid-type]
            def work() -> Any:
                cal = calibrate_body(body.support)
                qargs, qkwargs = s.payloads.query_args(body.query, limits)
                return cal.predict(*qargs, **qkwargs)

            frame, notes = await in_thread(s, work)
            return predict_reply(frame, notes)

        app.post(f"/priors/{s.name}/calibrate", tags=[s.name], dependencies=guard, summary=f"Calibrate {s.name}",
                 description=f"Support in the prior's form: {s.prior.domain.describe()}. Returns a calibration id.")(calibrate)
        app.post(f"/priors/{s.name}/predict", tags=[s.name], dependencies=guard, summary=f"Calibrate {s.name} and predict (stateless)",
                 description="Support and query together; nothing is stored.")(predict)

    for s in served.values():
        add_prior_routes(s)

    @app.post("/priors/{name}/calibrate", tags=["priors"], dependencies=guard, include_in_schema=False)
    @app.post("/priors/{name}/predict", tags=["priors"], dependencies=guard, include_in_schema=False)
    async def unknown_prior(name: str) -> None:
        served_prior(name)

    # ------------------------------------------------------------------ calibrations
    @app.post("/calibrations/{cal_id}/predict", tags=["calibrations"], dependencies=guard)
    async def predict_calibration(cal_id: str, request: Request) -> dict[str, Any]:
        """Predict new inputs with a stored calibration; the body is the prior's prediction body
        (``GET /priors/{name}`` gives its schema)."""
        cal, s = calibration(cal_id)
        body = parse(s.payloads.predict, await json_body(request))

        def work() -> Any:
            args, kwargs = s.payloads.query_args(body, limits)
            return cal.predict(*args, **kwargs)

        frame, notes = await in_thread(s, work)
        return predict_reply(frame, notes)

    @app.post("/calibrations/{cal_id}/suggest-next", tags=["calibrations"], dependencies=guard)
    async def suggest_next(cal_id: str, request: Request) -> dict[str, Any]:
        """Law priors: the next experiments that most narrow the interval of t50. Body:
        ``{"q": 1, "units": {...}, "box": {"time": [lo, hi], ...}}``; without a box, each input
        spans the prior's training range."""
        cal, s = calibration(cal_id)
        if s.prior.domain.kind != "law":
            raise ServiceError(422, f"suggest-next applies to law priors; {s.name} is a {s.prior.domain.kind} prior.")
        body = parse(suggest_models[s.name], await json_body(request))
        limits.check(body.q, "max_suggestions", "q")
        if body.box is not None and body.units is None:
            raise ServiceError(422, "box needs units: give the unit of each input, e.g. \"units\": {\"time\": \"h\", \"temperature\": \"C\"}.")

        def work() -> Any:
            if body.box is None:
                return cal.suggest_next(box=cal.training_box(), q=body.q)
            units = {k: v for k, v in body.units.model_dump().items() if v is not None}
            return cal.suggest_next(box={k: tuple(v) for k, v in body.box.model_dump().items()}, q=body.q, units=units)

        frame, notes = await in_thread(s, work)
        return {"suggestions": records(frame), "target": frame.attrs.get("target"), "warnings": notes}

    @app.get("/calibrations/{cal_id}/plot.svg", tags=["calibrations"], dependencies=guard, response_class=Response)
    async def plot(cal_id: str) -> Response:
        """Law priors: the calibrated curves with their 90% bands and the support points (SVG)."""
        cal, s = calibration(cal_id)
        if s.prior.domain.kind != "law":
            raise ServiceError(422, f"plots are drawn for law priors; {s.name} is a {s.prior.domain.kind} prior.")
        svg, _ = await in_thread(s, lambda: _svg(cal))
        return Response(svg, media_type="image/svg+xml")

    @app.delete("/calibrations/{cal_id}", tags=["calibrations"], dependencies=guard)
    async def delete(cal_id: str) -> dict[str, Any]:
        """Forget a calibration."""
        if not store.delete(cal_id):
            raise ServiceError(404, f"No calibration {cal_id!r} (never existed, deleted or expired).")
        return {"deleted": cal_id}

    return app


def _suggest_model(s: Served) -> Any:
    """The ``suggest-next`` body of a law prior: ``q``, and optionally a box over every input
    (in ``units``)."""
    from typing import Annotated

    from pydantic import Field, create_model

    units = s.payloads.calibrate.model_fields["units"].annotation
    prefix = s.payloads.calibrate.__name__.removesuffix("Calibrate")
    bounds = Annotated[list[Number], Field(min_length=2, max_length=2, description="[low, high] in the unit given in units")]
    box = create_model(prefix + "Box", __config__=STRICT, **{c.name: (bounds, ...) for c in s.prior.domain.schema.inputs})
    return create_model(prefix + "Suggest", __config__=STRICT, q=(Annotated[int, Field(strict=True, ge=1)], 1),
                        units=(units | None, None), box=(box | None, None))


def _svg(cal: Any) -> str:
    """The calibration plot as SVG text (object-oriented matplotlib: safe in worker threads)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    cal.plot(ax=ax)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()
