"""The HTTP API of `twincore serve` through a real HTTP client against a server process on a
free localhost port: every route, predictions equal to the trainer's bit for bit, every bad
input a 4xx JSON error naming its field, concurrent clients."""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from serve.helpers import b64, logits, multipart, png, post_json
from twincore.data import FASHION_CLASSES
from twincore.serve.loadtest import request, start_server


def test_health_and_model(mlp_server, mlp_run):
    status, hdrs, doc = request(mlp_server.url, "GET", "/health")
    assert status == 200 and doc["status"] == "ok" and doc["model"]["name"] == "mlp"
    assert doc["imported_frameworks"] == []  # the native server runs without torch or TF
    status, _, m = request(mlp_server.url, "GET", "/model")
    assert status == 200
    assert m["name"] == "mlp" and m["task"] == "classify" and m["serving_frontend"] == "native"
    assert m["trained_with"] == "native" and m["step"] == 40 and m["epoch"] == 2
    assert m["parameters"] == 784 * 512 + 512 + 512 * 10 + 10
    assert m["parameter_shapes"] == [[784, 512], [512], [512, 10], [10]]
    assert m["classes"] == list(FASHION_CLASSES)
    assert m["summary"]["test_accuracy"] == mlp_run.summary["test_accuracy"]
    assert m["version"].startswith("mlp-step40-") and len(m["version"]) == len("mlp-step40-") + 12
    status, hdrs, page = request(mlp_server.url, "GET", "/")
    assert status == 200 and hdrs["content-type"].startswith("text/html") and b"/static/app.js" in page
    for asset in ("/static/app.js", "/static/style.css"):
        assert request(mlp_server.url, "GET", asset)[0] == 200


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_predictions_are_the_trainers_bit_for_bit(which, request_fixture_runs):
    run, server = request_fixture_runs(which)
    raw = run.raw_test  # uint8 [200, 28, 28], as the IDX file holds them
    status, _, doc = post_json(server, {"instances": raw.tolist(), "top_k": 10})
    assert status == 200, doc
    got = logits(doc)
    assert got.dtype == run.outputs.dtype and np.array_equal(got, run.outputs)  # the whole test split, one request
    pred = np.array([p["label"] for p in doc["predictions"]])
    assert np.array_equal(pred, run.summary["test_pred"])  # the labels trainer.fit's evaluate reported
    # one image per request, 0-1 floats, PNG (base64, multipart, raw body): the same numbers
    for i in range(3):
        _, _, one = post_json(server, {"instances": [raw[i].tolist()]})
        assert np.array_equal(logits(one)[0], run.outputs[i])
    floats = run.task.test.x[:4]  # normalized float32, sent as JSON numbers (exact round trip)
    _, _, doc = post_json(server, {"instances": floats.tolist()})
    assert np.array_equal(logits(doc), run.outputs[:4])
    _, _, doc = post_json(server, {"instances": [b64(png(raw[i])) for i in range(4)]})
    assert np.array_equal(logits(doc), run.outputs[:4])
    _, _, doc = post_json(server, {"instances": [{"b64": "data:image/png;base64," + b64(png(raw[5]))}]})
    assert np.array_equal(logits(doc)[0], run.outputs[5])
    body, ctype = multipart([("image", f"{i}.png", png(raw[i])) for i in range(3)], {"top_k": "2"})
    status, _, doc = request(server.url, "POST", "/predict", body, {"Content-Type": ctype})
    assert status == 200 and np.array_equal(logits(doc), run.outputs[:3])
    assert all(len(p["top_k"]) == 2 for p in doc["predictions"])
    status, _, doc = request(server.url, "POST", "/predict", png(raw[7]), {"Content-Type": "image/png"})
    assert status == 200 and np.array_equal(logits(doc)[0], run.outputs[7])


@pytest.fixture
def request_fixture_runs(request):
    return lambda which: (request.getfixturevalue(f"{which}_run"), request.getfixturevalue(f"{which}_server"))


def test_answer_form(mlp_server, mlp_run):
    raw = mlp_run.raw_test
    status, _, doc = post_json(mlp_server, {"instances": raw[:5].tolist(), "top_k": 4})
    assert status == 200 and doc["model"]["name"] == "mlp" and doc["model"]["version"].startswith("mlp-")
    for p, z in zip(doc["predictions"], mlp_run.outputs[:5]):
        probs = np.array(p["probabilities"])
        e = np.exp(z.astype(np.float64) - z.max())
        np.testing.assert_allclose(probs, e / e.sum(), rtol=1e-12)
        assert p["label"] == int(np.argmax(z)) and p["class"] == FASHION_CLASSES[p["label"]]
        top = p["top_k"]
        assert [t["label"] for t in top] == list(np.argsort(-probs, kind="stable")[:4])
        assert [t["class"] for t in top] == [FASHION_CLASSES[t["label"]] for t in top]
        assert all(a["probability"] >= b["probability"] for a, b in zip(top, top[1:]))
    # the learned task: most test images get their true class
    _, _, doc = post_json(mlp_server, {"instances": raw.tolist()})
    acc = np.mean([p["label"] for p in doc["predictions"]] == mlp_run.task.test.y)
    assert acc == pytest.approx(mlp_run.summary["test_accuracy"]) and acc > 0.5


def test_image_forms(mlp_server, mlp_run):
    """Other sizes, colour, JPEG and inverted photos reach the model as 28x28 grey items."""
    raw = mlp_run.raw_test
    ref = mlp_run.outputs
    # a 4x nearest-neighbour upscale in RGB shrinks back to the very same 28x28 image
    _, _, doc = post_json(mlp_server, {"instances": [b64(png(raw[0], size=112, mode="RGB"))]})
    assert np.array_equal(logits(doc)[0], ref[0])
    # a dark item on white, sent with invert: the same prediction as the dataset's image
    _, _, doc = post_json(mlp_server, {"instances": [b64(png(255 - raw[1]))], "invert": True})
    assert np.array_equal(logits(doc)[0], ref[1])
    _, _, doc = post_json(mlp_server, {"instances": [(255 - raw[2]).tolist()], "invert": True})
    assert np.array_equal(logits(doc)[0], ref[2])
    # JPEG is lossy: the same class
    status, _, doc = post_json(mlp_server, {"instances": [b64(png(raw[3], size=56, mode="RGB", fmt="JPEG"))]})
    assert status == 200 and doc["predictions"][0]["label"] == int(ref[3].argmax())
    # scale 0-1 with a max of exactly 1.0 stays in [0, 1]; scale 0-255 forces /255
    img = np.zeros((28, 28)); img[5:9, 4:24] = 1.0
    _, _, a = post_json(mlp_server, {"instances": [img.tolist()], "scale": "0-1"})
    _, _, b = post_json(mlp_server, {"instances": [(img * 255).tolist()], "scale": "0-255"})
    assert np.array_equal(logits(a), logits(b))


def _huge_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buf, "PNG")  # 20 Mpixel, a few KB compressed
    return buf.getvalue()


def _corrupt_png() -> bytes:
    data = png(np.arange(784).reshape(28, 28) % 256)
    return data[:60] + bytes(40) + data[100:]


BAD = [  # (method, path, content type, body, status, field)
    ("POST", "/predict", "application/json", b"{not json", 400, "body"),
    ("POST", "/predict", "application/json", b"", 400, "body"),
    ("POST", "/predict", "application/json", b"[1, 2]", 400, "body"),
    ("POST", "/predict", "application/json", b"\xff\xfe{", 400, "body"),
    ("POST", "/predict", "application/json", b"[" * 100000 + b"]" * 100000, 400, "body"),
    ("POST", "/predict", "application/json", b"{}", 400, "instances"),
    ("POST", "/predict", "application/json", b'{"instances": []}', 400, "instances"),
    ("POST", "/predict", "application/json", b'{"instances": 5}', 400, "instances"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 27]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[0] * 783]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28, [[0] * 28] * 28 + [[1]]]}).encode(), 400, "instances[1]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[["a"] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[True] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[None] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 27 + [[1]]] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", b'{"instances": [[' + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28) + b"]]}", 400, "instances[0]"),
    ("POST", "/predict", "application/json", b'{"instances": [[' + b",".join([b"[" + b",".join([b"Infinity"] * 28) + b"]"] * 28) + b"]]}", 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[-1] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[256] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[2] * 28] * 28], "scale": "0-1"}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[10 ** 30] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[10 ** 400] * 28] * 28]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28], "top_k": 0}).encode(), 400, "top_k"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28], "top_k": 11}).encode(), 400, "top_k"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28], "top_k": "x"}).encode(), 400, "top_k"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28], "scale": "0-100"}).encode(), 400, "scale"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [[[0] * 28] * 28], "invert": "maybe"}).encode(), 400, "invert"),
    ("POST", "/predict", "application/json", json.dumps({"instances": ["not base64!"]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [b64(b"GIF89a not a png")]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [b64(_corrupt_png())]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [{"b64": 5}]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [{"pixels": []}]}).encode(), 400, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [b64(_huge_png())]}).encode(), 413, "instances[0]"),
    ("POST", "/predict", "application/json", json.dumps({"instances": [0] * 1025}).encode(), 413, "instances"),
    ("POST", "/predict", "application/json", b"x" * (16 * 1024 * 1024 + 1), 413, "body"),
    ("POST", "/predict", "image/png", _huge_png(), 413, "body"),
    ("POST", "/predict", "image/png", b"", 400, "body"),
    ("POST", "/predict", "image/jpeg", b"\xff\xd8\xff\xe0 truncated", 400, "body"),
    ("POST", "/predict", "text/plain", b"hello", 415, "Content-Type"),
    ("POST", "/predict", None, b"", 415, "Content-Type"),
    ("GET", "/predict", None, None, 405, "method"),
    ("DELETE", "/health", None, None, 405, "method"),
    ("PUT", "/model", "application/json", b"{}", 405, "method"),
    ("GET", "/nope", None, None, 404, "path"),
    ("GET", "/static/../model.py", None, None, 404, "path"),
    ("POST", "/", "application/json", b"{}", 405, "method"),
]


@pytest.mark.parametrize("method,path,ctype,body,status,field", BAD,
                         ids=[f"{i}-{b[4]}-{b[5]}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_4xx_json_naming_the_field(mlp_server, method, path, ctype, body, status, field):
    got, hdrs, doc = request(mlp_server.url, method, path, body, {"Content-Type": ctype} if ctype else {})
    assert hdrs["content-type"].startswith("application/json"), doc
    assert (got, doc["status"], doc["field"]) == (status, status, field), doc
    assert isinstance(doc["error"], str) and doc["error"]


def test_chunked_body_over_the_limit(mlp_server):
    """No Content-Length up front: waitress collects the chunks, the app still answers 413 JSON."""
    import http.client

    host, port = mlp_server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("POST", "/predict", body=(b"x" * (1 << 20) for _ in range(20)),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        r = conn.getresponse()
        doc = json.loads(r.read())
    finally:
        conn.close()
    assert (r.status, doc["field"]) == (413, "body")


def test_bad_multipart(mlp_server):
    body, ctype = multipart([])
    got, _, doc = request(mlp_server.url, "POST", "/predict", body, {"Content-Type": ctype})
    assert (got, doc["field"]) == (400, "image")
    body, ctype = multipart([("image", "a.png", png(np.zeros((28, 28)))), ("image", "b.png", b"not an image")])
    got, _, doc = request(mlp_server.url, "POST", "/predict", body, {"Content-Type": ctype})
    assert (got, doc["field"]) == (400, "image[1]")
    body, ctype = multipart([("image", "a.png", png(np.zeros((28, 28))))], {"top_k": "99"})
    got, _, doc = request(mlp_server.url, "POST", "/predict", body, {"Content-Type": ctype})
    assert (got, doc["field"]) == (400, "top_k")
    got, _, doc = request(mlp_server.url, "POST", "/predict", b"--x\r\ngarbage", {"Content-Type": "multipart/form-data"})
    assert got == 400 and doc["field"] in ("image", "body", "request")
    # the server is still healthy after all of it
    assert request(mlp_server.url, "GET", "/health")[0] == 200


def test_hammer_malformed_requests_never_500(mlp_server, mlp_run):
    """Random damage to valid bodies: every answer is 200 or a 4xx JSON error, never a 500."""
    rng = np.random.default_rng(0)
    good = [json.dumps({"instances": mlp_run.raw_test[:2].tolist()}).encode(),
            json.dumps({"instances": [b64(png(mlp_run.raw_test[0]))]}).encode(),
            json.dumps({"instances": [b64(png(mlp_run.raw_test[1], size=40, mode="RGB", fmt="JPEG"))], "top_k": 2}).encode()]
    pngs = [png(mlp_run.raw_test[0]), png(mlp_run.raw_test[1], size=64, mode="RGBA")]
    seen = set()
    for k in range(240):
        kind = k % 4
        if kind < 2:
            body = bytearray(good[rng.integers(len(good))])
            for _ in range(rng.integers(1, 6)):  # flip, drop or cut bytes
                i = int(rng.integers(len(body)))
                op = rng.integers(3)
                if op == 0:
                    body[i] = int(rng.integers(256))
                elif op == 1:
                    del body[i:i + int(rng.integers(1, 50))]
                else:
                    body = body[:i]
                    break
            ctype = "application/json"
        elif kind == 2:
            data = bytearray(pngs[rng.integers(len(pngs))])
            for _ in range(rng.integers(1, 8)):
                data[int(rng.integers(len(data)))] = int(rng.integers(256))
            body, ctype = bytes(data), "image/png"
        else:  # well-formed JSON, wrong structure
            choices = [None, True, 3, -1.5, "x", [], {}, [[]], [[1, 2]], {"b64": None}, [[[1] * 28] * 28],
                       "iVBORw0KGgo=", float(rng.random())]
            doc = {"instances": [choices[i] for i in rng.integers(len(choices), size=rng.integers(0, 4))]}
            if rng.random() < 0.3:
                doc["top_k"] = choices[rng.integers(len(choices))]
            if rng.random() < 0.3:
                doc["scale"] = choices[rng.integers(len(choices))]
            body, ctype = json.dumps(doc).encode(), "application/json"
        status, hdrs, doc = request(mlp_server.url, "POST", "/predict", bytes(body), {"Content-Type": ctype})
        assert hdrs["content-type"].startswith("application/json")
        assert status == 200 or (400 <= status < 500 and doc["status"] == status and doc["field"]), (status, doc, body[:200])
        seen.add(status)
    assert 400 in seen  # the damage did reach the checks
    assert request(mlp_server.url, "GET", "/health")[0] == 200


def test_concurrent_clients_get_their_own_answers(cnn_server, cnn_run):
    """8 threads at once on the one shared model: each answer is exactly its image's logits."""
    raw, ref = cnn_run.raw_test, cnn_run.outputs
    failures = []

    def client(t):
        for j in range(12):
            i = (t * 12 + j) % len(raw)
            n = 1 + (i % 3)
            idx = [(i + d) % len(raw) for d in range(n)]
            status, _, doc = post_json(cnn_server, {"instances": raw[idx].tolist()})
            if status != 200 or not np.array_equal(logits(doc), ref[idx]):
                failures.append((t, j, status))

    threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures


def test_native_server_imports_no_framework(mlp_run):
    """In a fresh interpreter: load, serve a prediction through the app, and check sys.modules."""
    code = (
        "import sys, json\n"
        "from twincore.serve.model import load_model\n"
        "from twincore.serve.app import create_app\n"
        f"m = load_model({mlp_run.out!r})\n"
        "c = create_app(m).test_client()\n"
        "r = c.post('/predict', json={'instances': [[[0] * 28] * 28]})\n"
        "assert r.status_code == 200, r.json\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'tensorflow', 'keras', 'jax'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_other_frontends_agree(mlp_run, cnn_run):
    """torch / keras serving the same checkpoint: the same classes, logits within rounding."""
    from support import has
    from twincore.serve.model import load_model

    tried = 0
    for frontend, module in (("torch", "torch"), ("keras", "tensorflow")):
        if not has(module):
            continue
        for run in (mlp_run, cnn_run):
            m = load_model(run.out, frontend)
            out = m.predict(run.task.test.x[:50])
            np.testing.assert_allclose(out, run.outputs[:50], rtol=1e-4, atol=1e-4)
            assert np.array_equal(out.argmax(1), run.outputs[:50].argmax(1))
        tried += 1
    if not tried:
        pytest.skip("neither torch nor tensorflow is installed")


@pytest.mark.skipif(not __import__("support").has("torch"), reason="needs torch")
def test_torch_server_says_it_imported_torch(mlp_run):
    s = start_server(mlp_run.out, "torch", workers=2)
    try:
        _, _, h = request(s.url, "GET", "/health")
        assert "torch" in h["imported_frameworks"] and h["model"]["frontend"] == "torch"
        status, _, doc = post_json(s, {"instances": mlp_run.raw_test[:8].tolist()})
        assert status == 200
        np.testing.assert_allclose(logits(doc), mlp_run.outputs[:8], rtol=1e-4, atol=1e-4)
    finally:
        s.stop()
