"""Run an exported .tflite on the real runtimes, for the deployment tests and `tinynas bench int8`.

usage: runtimes.py MODEL INPUTS N OUT_DIR [ACTIVATION_TENSORS]
       runtimes.py --arena MODEL...   (one JSON line per model: TFLM's arena, nothing run)
       runtimes.py --time MODEL INPUTS N  (one JSON line: TFLM's images/s over the N inputs)

INPUTS holds N int8 images back to back. Writes to OUT_DIR:
  tflm.bin            N int8 output rows from TF Lite Micro's interpreter (reference kernels)
  arena.json          TFLM's arena for the model: head, tail, total bytes (print_allocations)
  litert_ref.bin      N output rows from LiteRT's reference kernels
  litert.bin          N output rows from LiteRT as an application gets it (optimized kernels,
                      XNNPACK)
and with ACTIVATION_TENSORS = T, tensors 0..T-1 for the first image, back to back:
  tflm_tensors.bin    TFLM's (the interpreter run with every tensor preserved)
  litert_tensors.bin  LiteRT's optimized builtin kernels'
"""

import json
import os
import re
import sys
import tempfile
import time
import warnings

import numpy as np
from ai_edge_litert.interpreter import Interpreter as LiteRT
from ai_edge_litert.interpreter import OpResolverType
from tflite_micro.python.tflite_micro import runtime


def captured_stderr(fn):
    """What fn writes to file descriptor 2 (the C++ side prints there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as f:
        os.dup2(f.fileno(), 2)
        try:
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        return f.read().decode(errors="replace")


def arena_of(interpreter):
    text = captured_stderr(interpreter.print_allocations)
    arena = {}
    for key in ("total", "head", "tail"):
        m = re.search(r"Arena allocation %s (\d+) bytes" % key, text)
        arena[key] = int(m.group(1)) if m else None
    arena["log"] = text
    return arena


def main():
    if sys.argv[1] == "--time":
        model = open(sys.argv[2], "rb").read()
        n = int(sys.argv[4])
        tflm = runtime.Interpreter.from_bytes(model, arena_size=256 << 20)
        shape = tflm.get_input_details(0)["shape"]
        x = np.fromfile(sys.argv[3], dtype=np.int8).reshape([n] + list(shape[1:]))
        tflm.set_input(x[0:1], 0)
        tflm.invoke()
        t = time.perf_counter()
        for i in range(n):
            tflm.set_input(x[i : i + 1], 0)
            tflm.invoke()
        print(json.dumps({"images_per_s": n / (time.perf_counter() - t)}), flush=True)
        return
    if sys.argv[1] == "--arena":
        for path in sys.argv[2:]:
            tflm = runtime.Interpreter.from_bytes(open(path, "rb").read(), arena_size=256 << 20)
            print(json.dumps(dict(arena_of(tflm), model=path)), flush=True)
        return
    model_path, inputs_path, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    tensors = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    model = open(model_path, "rb").read()
    x = np.fromfile(inputs_path, dtype=np.int8)

    tflm = runtime.Interpreter.from_bytes(model, arena_size=64 << 20)
    shape = tflm.get_input_details(0)["shape"]
    x = x.reshape([n] + list(shape[1:]))
    rows = []
    for i in range(n):
        tflm.set_input(x[i : i + 1], 0)
        tflm.invoke()
        rows.append(np.array(tflm.get_output(0), dtype=np.int8).reshape(-1))
    np.stack(rows).tofile(os.path.join(out, "tflm.bin"))

    json.dump(arena_of(tflm), open(os.path.join(out, "arena.json"), "w"))

    def litert(resolver, name):
        lite = LiteRT(model_content=model, experimental_op_resolver_type=resolver)
        lite.allocate_tensors()
        inp = lite.get_input_details()[0]["index"]
        outp = lite.get_output_details()[0]["index"]
        rows = []
        for i in range(n):
            lite.set_tensor(inp, x[i : i + 1])
            lite.invoke()
            rows.append(lite.get_tensor(outp).astype(np.int8).reshape(-1))
        np.stack(rows).tofile(os.path.join(out, name))

    litert(OpResolverType.BUILTIN_REF, "litert_ref.bin")
    litert(OpResolverType.AUTO, "litert.bin")
    litert(OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "litert_builtin.bin")

    if tensors:
        full = runtime.Interpreter.from_bytes(
            model,
            arena_size=64 << 20,
            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
        )
        full.set_input(x[0:1], 0)
        full.invoke()
        with open(os.path.join(out, "tflm_tensors.bin"), "wb") as f:
            for t in range(tensors):
                np.array(full.GetTensor(t, 0)["tensor_data"], dtype=np.int8).reshape(-1).tofile(f)
        warnings.simplefilter("ignore")
        lite = LiteRT(
            model_content=model,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        lite.allocate_tensors()
        lite.set_tensor(lite.get_input_details()[0]["index"], x[0:1])
        lite.invoke()
        with open(os.path.join(out, "litert_tensors.bin"), "wb") as f:
            for t in range(tensors):
                lite.get_tensor(t).astype(np.int8).reshape(-1).tofile(f)


if __name__ == "__main__":
    main()
