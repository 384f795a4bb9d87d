"""The Flask app that serves one loaded model: the JSON API and the web page.

    POST /predict   JSON {"instances": [...], "top_k": 3, "scale": "auto", "invert": false},
                    a multipart upload of image files, or one raw image/png|jpeg body
    GET  /health    {"status": "ok", ...}
    GET  /model     the spec, parameter count, checkpoint meta and the training summary
    GET  /          the page (static/index.html): draw or upload an item, see the top classes

Every bad request answers 4xx with {"error": message, "field": the field at fault, "status": code}.

Threads: waitress runs this app in one process with a pool of worker threads (no fork), so
the model is loaded once and every thread reads the same weights. That is safe because
inference writes nothing shared: the native backend's layers are built at load time, each
forward allocates its own output tensors, the tape is thread-local (and not recording),
and the C++ thread pool takes one parallel region at a time (cpp/core/parallel.cc); the
GIL is released inside the kernels, so request parsing in one thread overlaps the math
of another. The torch and keras backends mutate module state or trace graphs when they
predict, so the model serialises their calls with a lock (model.LoadedModel.predict).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np
from flask import Flask, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from twincore.serve import inputs
from twincore.serve.model import LoadedModel, describe, imported_frameworks

MAX_CONTENT_LENGTH = 16 * 1024 * 1024   # bytes per request body; larger bodies answer 413
STATIC = os.path.join(os.path.dirname(__file__), "static")
_FIELD_OF_STATUS = {404: "path", 405: "method", 413: "body", 415: "Content-Type"}
log = logging.getLogger("twincore.serve")


def _error(status: int, field: str, message: str):
    resp = jsonify({"error": message, "field": field, "status": status})
    resp.status_code = status
    return resp


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: max subtracted)."""
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _classified(m: LoadedModel, logits: np.ndarray, top_k: int) -> list[dict]:
    probs = softmax(logits)
    out = []
    for row, p in zip(logits, probs):
        order = np.argsort(-p, kind="stable")[:top_k]
        best = int(order[0])
        out.append({"label": best, "class": m.classes[best],
                    "probabilities": [float(v) for v in p],
                    "top_k": [{"label": int(j), "class": m.classes[j], "probability": float(p[j])} for j in order],
                    "logits": [float(v) for v in row]})  # float32 -> float64 -> JSON: exact
    return out


def create_app(model: LoadedModel, max_content_length: int = MAX_CONTENT_LENGTH,
               max_instances: int = inputs.MAX_INSTANCES) -> Flask:
    app = Flask(__name__, static_folder=STATIC, static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=max_content_length, MAX_FORM_MEMORY_SIZE=max_content_length,
                      MAX_FORM_PARTS=max_instances + 16)
    app.json.sort_keys = False
    started = time.time()
    ident = {"name": model.spec.name, "version": model.version, "frontend": model.frontend}

    @app.errorhandler(inputs.BadInput)
    def bad_input(e: inputs.BadInput):
        return _error(e.status, e.field, e.message)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        status = e.code or 400
        return _error(status, _FIELD_OF_STATUS.get(status, "request"),
                      f"{e.name}: {e.description}" + (f" ({request.method} {request.path})" if status in (404, 405) else ""))

    @app.errorhandler(Exception)
    def crash(e: Exception):  # a bug, not bad input: still JSON, and logged with its traceback
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "server", f"internal error: {type(e).__name__}")

    @app.get("/")
    def page():
        return send_from_directory(STATIC, "index.html")

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "model": ident, "uptime_s": round(time.time() - started, 3),
                        "imported_frameworks": imported_frameworks()})

    @app.get("/model")
    def model_info():
        return jsonify(describe(model))

    @app.post("/predict")
    def predict():
        mime = request.mimetype or ""
        if mime == "application/json" or mime.endswith("+json"):
            doc = inputs.parse_json_body(request.get_data(cache=False))
            if model.task == "regress":
                x, top_k = inputs.values_from_json(doc, model.dtype, max_instances), None
            else:
                top_k = inputs.option_top_k(doc.get("top_k"), len(model.classes))
                x = inputs.images_from_json(doc, model.dtype, max_instances)
        elif mime == "multipart/form-data" or mime in ("image/png", "image/jpeg"):
            if model.task == "regress":
                raise inputs.BadInput(400, "image", "the regression model takes numbers: send JSON instances")
            if mime == "multipart/form-data":
                items = [(f"{name}[{i}]" if name else f"file[{i}]", f.read())
                         for i, (name, f) in enumerate(request.files.items(multi=True))]
                top_k = inputs.option_top_k(request.form.get("top_k"), len(model.classes))
                invert = inputs.option_invert(request.form.get("invert"))
            else:
                items, invert = [("body", request.get_data(cache=False))], inputs.option_invert(request.args.get("invert"))
                top_k = inputs.option_top_k(request.args.get("top_k"), len(model.classes))
            x = inputs.images_from_files(items, invert, model.dtype, max_instances)
        else:
            raise inputs.BadInput(415, "Content-Type", f"expected application/json, multipart/form-data or "
                                  f"image/png|jpeg, got {mime or 'none'!r}")
        out = model.predict(x)
        if model.task == "regress":
            preds = [{"value": float(v)} for v in np.asarray(out).reshape(-1)]
        elif model.task == "multi-io":
            preds = _classified(model, out[0], top_k)
            for p, b in zip(preds, np.asarray(out[1]).reshape(-1)):
                p["brightness"] = float(b)
        else:
            preds = _classified(model, out, top_k)
        return jsonify({"model": ident, "predictions": preds})

    return app


def serve(model: LoadedModel, host: str = "127.0.0.1", port: int = 8000, threads: int = 4,
          on_ready=None) -> None:
    """Run the app under waitress until interrupted; on_ready(url) once the socket listens."""
    from waitress import create_server

    app = create_app(model)
    # waitress reads a whole body before the app sees it: past 4x our limit it answers 413
    # itself (plain text) instead of spooling gigabytes to disk; up to that, the app's JSON 413.
    server = create_server(app, host=host, port=port, threads=threads, ident="twincore",
                           max_request_body_size=4 * MAX_CONTENT_LENGTH, clear_untrusted_proxy_headers=True)
    url = f"http://{host if ':' not in host else '[' + host + ']'}:{server.effective_port}/"
    if on_ready:
        on_ready(url)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
