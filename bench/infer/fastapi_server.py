#!/usr/bin/env python3
"""The peer of drover-serve in bench/infer_bench.sh: FastAPI + uvicorn + torch.

What a user would otherwise write to serve a TorchScript model over the Open
Inference Protocol v2 REST API (the JSON endpoints drover-serve speaks):

  GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{m}, /v2/models/{m}/ready
  POST /v2/models/{m}/infer
       {"inputs": [{"name": "input", "shape": [N, 1, 28, 28], "datatype": "FP32", "data": [...]}]}
    -> {"model_name": m, "outputs": [{"name": "output", "shape": [N, 10], "datatype": "FP32", "data": [...]}]}
  errors: {"error": "..."} with 400 (bad request) or 404 (unknown model)

Run (one process per worker, each with its own copy of the model):

  MODEL_PATH=fmnist.pt MODEL_NAME=fmnist uvicorn --app-dir bench/infer fastapi_server:app \
      --host 127.0.0.1 --port 8000 --workers 2 --no-access-log

Environment: MODEL_PATH (TorchScript file, required), MODEL_NAME (default
fmnist), INPUT_SHAPE (per-sample shape, default 1,28,28), TORCH_THREADS
(intra-op threads per worker, default 1), TORCH_OPTIMIZE (1, the default:
freeze the module and apply torch.jit.optimize_for_inference; 0: serve it as
loaded).

Written as a fair, reasonably tuned peer rather than the shortest tutorial
version: the body is parsed with json.loads instead of pydantic models (whose
per-float validation of a 784-element list costs more than the model), the
model runs inline in an async handler (no thread-pool hop: the work is short
and holds the GIL anyway; workers, not threads, give the parallelism), one
intra-op thread per worker (the workers are the parallelism; more threads per
worker oversubscribe the cores), and inference_mode. What it does not do is
batch concurrent requests together: that takes a queue and a batcher thread
that FastAPI has no support for, and is the point of comparison.
"""
import json
import os

import torch
from fastapi import FastAPI, Request
from fastapi.responses import Response

MODEL_PATH = os.environ.get("MODEL_PATH", "")
MODEL_NAME = os.environ.get("MODEL_NAME", "fmnist")
INPUT_SHAPE = [int(d) for d in os.environ.get("INPUT_SHAPE", "1,28,28").split(",")]
THREADS = int(os.environ.get("TORCH_THREADS", "1"))
OPTIMIZE = os.environ.get("TORCH_OPTIMIZE", "1") != "0"

# Both before the first op: the inter-op pool cannot be resized once used.
torch.set_num_threads(THREADS)
torch.set_num_interop_threads(1)


def load_model():
    if not MODEL_PATH:
        raise SystemExit("fastapi_server: set MODEL_PATH to a TorchScript file (bench/infer/export_cnn.py)")
    m = torch.jit.load(MODEL_PATH, map_location="cpu").eval()
    if OPTIMIZE:
        # Folds the weights in as constants and picks inference kernels
        # (MKL-DNN convolutions on CPU): ~25% faster at batch 1 here.
        m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    # TorchScript's profiling executor specialises the graph over the first
    # calls; make them here so no request pays for it.
    with torch.inference_mode():
        for _ in range(3):
            m(torch.zeros([1] + INPUT_SHAPE))
    return m


# Loaded at import: uvicorn --workers imports this module once in each worker.
model = load_model()
app = FastAPI(title="fmnist OIP v2 (FastAPI peer)")
METADATA = {
    "name": MODEL_NAME,
    "platform": "pytorch_torchscript",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1] + INPUT_SHAPE}],
    "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, -1]}],
}


def json_response(obj, status=200):
    # Compact separators and no pydantic round-trip: the output is already
    # plain Python lists and numbers.
    return Response(json.dumps(obj, separators=(",", ":")), status_code=status, media_type="application/json")


def error(status, message):
    return json_response({"error": message}, status)


@app.get("/v2/health/live")
async def live():
    return json_response({"live": True})


@app.get("/v2/health/ready")
async def ready():
    return json_response({"ready": True})  # the model is loaded before the app serves


@app.get("/v2")
async def server_metadata():
    return json_response({"name": "fastapi-peer", "version": "1", "extensions": []})


@app.get("/v2/models/{name}")
async def model_metadata(name: str):
    if name != MODEL_NAME:
        return error(404, f"unknown model '{name}'")
    return json_response(METADATA)


@app.get("/v2/models/{name}/ready")
async def model_ready(name: str):
    if name != MODEL_NAME:
        return error(404, f"unknown model '{name}'")
    return json_response({"name": name, "ready": True})


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    if name != MODEL_NAME:
        return error(404, f"unknown model '{name}'")
    try:
        body = json.loads(await request.body())
        inputs = body["inputs"]
        if not isinstance(inputs, list) or len(inputs) != 1:
            return error(400, "expected exactly one input tensor")
        inp = inputs[0]
        if inp.get("datatype") != "FP32":
            return error(400, f"input '{inp.get('name')}': datatype must be FP32")
        shape = inp["shape"]
        if not isinstance(shape, list) or len(shape) != len(INPUT_SHAPE) + 1 or shape[1:] != INPUT_SHAPE:
            return error(400, f"input shape must be [N,{','.join(map(str, INPUT_SHAPE))}], got {shape}")
        # torch.tensor takes the flat list (or a nested one) straight to
        # float32; faster than going through numpy for a list of Python floats.
        x = torch.tensor(inp["data"], dtype=torch.float32).reshape(shape)
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as e:
        return error(400, f"bad inference request: {e}")
    with torch.inference_mode():
        y = model(x)
    out = {
        "model_name": MODEL_NAME,
        "outputs": [{"name": "output", "shape": list(y.shape), "datatype": "FP32", "data": y.flatten().tolist()}],
    }
    if "id" in body:  # OIP: an id given in the request is returned in the response
        out["id"] = body["id"]
    return json_response(out)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run("fastapi_server:app", host="127.0.0.1", port=int(os.environ.get("PORT", "8000")),
                workers=int(os.environ.get("WORKERS", "1")), access_log=False)
