"""Side-by-side benchmark of e3xp against e3nn, e3nn-jax and cuequivariance (issue 5).

    python benchmarks/run.py [--quick] [--workloads a,b,c] [--frameworks torch,jax,numpy]
                             [--repeats N] [--out benchmarks/RESULTS.md]

Everything runs in one process on the same float32 inputs (workloads.py).  For each
(workload, mode, implementation): build + first call is timed ("first call": plan /
module construction, tracing, jit or torch.compile), then warm-up, then `repeats`
timed calls; the median is reported.  See README.md for the method and the columns.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field


def _early_threads(argv):
    """Apply --threads before numpy / torch / jax start their thread pools."""
    n = None
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    if n is None or not n.isdigit() or int(n) < 1:
        return None
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
    flags = os.environ.get("XLA_FLAGS", "")
    if int(n) == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    return int(n)


def _early_hugepages(argv):
    """Re-run this process with glibc's malloc on transparent huge pages (Linux).

    Where the kernel gives huge pages only on request (THP mode ``madvise``, the
    common default), a fresh 4 KiB page costs a fault on first touch: on this VM
    writing a fresh 180 MB output took 135 ms against 13 ms into a reused buffer.
    NumPy asks for huge pages itself; torch's and XLA's CPU allocators do not, so
    their timings would measure the page-fault rate, not the implementations. The
    glibc tunable (read at process start, hence the re-exec) puts every framework on
    the same footing; ``--no-hugepages`` keeps the default allocator.
    """
    if "--no-hugepages" in argv or not sys.platform.startswith("linux"):
        return "off"
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return tunables
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            if "[madvise]" not in fh.read():
                return "kernel default"
    except OSError:
        return "kernel default"
    env = dict(os.environ, GLIBC_TUNABLES=":".join(filter(None, [tunables, "glibc.malloc.hugetlb=1"])))
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], env)


THREADS = _early_threads(sys.argv[1:])
HUGEPAGES = _early_hugepages(sys.argv[1:]) if __name__ == "__main__" else "not set (imported)"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
_SRC = os.path.join(os.path.dirname(HERE), "src")
if os.path.isdir(_SRC) and _SRC not in sys.path:
    sys.path.insert(1, _SRC)  # e3xp from the checkout, also without an editable install

import workloads as W  # noqa: E402
from anchors import Impl, anchor_impls  # noqa: E402

TARGETS = {  # issue 5: e3xp / best anchor of the same framework
    "a": 1.0, "b": 0.5, "c": 0.5, "d": 1.0, "e3": 1.0, "e8": 1.0,
}
FIRST_CALL_TARGET_S = {"c": 3.0}


# =========================================================================== e3xp
def e3xp_impls(frameworks: set[str]) -> tuple[list[Impl], str]:
    """e3xp rows for every requested framework, or ([], why not)."""
    try:
        import e3xp

        needed = ["IrrepsArray", "tensor_product", "FullyConnectedTensorProduct", "ChannelwiseTensorProduct",
                  "Linear", "spherical_harmonics"]
        missing = [n for n in needed if not hasattr(e3xp, n)]
        if len(missing) == len(needed):
            return [], f"e3xp not available: the public API is not there yet (missing {', '.join(missing)})"
    except Exception as exc:
        return [], f"e3xp not available: {type(exc).__name__}: {exc}"

    def arr(out):
        return getattr(out, "array", out)

    def ia(irreps, x):
        return e3xp.IrrepsArray(irreps, x)

    def full_tp(wl, a):
        return lambda x, y: arr(e3xp.tensor_product(ia(wl.irreps_in1, x), ia(wl.irreps_in2, y)))

    def fctp(wl, a):
        tp = e3xp.FullyConnectedTensorProduct(wl.irreps_out, wl.irreps_in1, wl.irreps_in2)
        n = getattr(tp, "weight_numel", None)
        if n is not None and n != wl.weight_numel():
            raise ValueError(f"e3xp weight_numel {n} != e3nn's {wl.weight_numel()}")
        return lambda w, x, y: arr(tp.apply({"weight": w}, ia(wl.irreps_in1, x), ia(wl.irreps_in2, y)))

    def channelwise(wl, a):
        tp = e3xp.ChannelwiseTensorProduct(wl.irreps_in1, wl.irreps_in2, wl.irreps_out)
        if tp.weight_numel != wl.weight_numel():
            raise ValueError(f"e3xp weight_numel {tp.weight_numel} != e3nn's {wl.weight_numel()}")
        return lambda w, x, y: arr(tp.apply(w, ia(wl.irreps_in1, x), ia(wl.irreps_in2, y)))

    def linear(wl, a):
        lin = e3xp.Linear(wl.irreps_out)
        params = lin.init(0, ia(wl.irreps_in1, a["x"]))
        leaves, unflatten = _flatten(params)
        sizes = [int(np.prod(getattr(p, "shape", ()))) for p in leaves]
        if len(leaves) == 1 and sizes[0] == wl.weight_numel():
            # a flat weight vector: feed the benchmark's own weights (same inputs as the anchors)
            return lambda w, x: arr(lin.apply(unflatten([w.reshape(leaves[0].shape)]), ia(wl.irreps_in1, x)))
        # structured params: benchmark e3xp's own initial parameters as the differentiable leaves
        f = lambda *args: arr(lin.apply(unflatten(list(args[:-1])), ia(wl.irreps_in1, args[-1])))
        return f, list(leaves) + [a["x"]]

    def sh(wl, a):
        irreps = W.sh_irreps(wl.lmax)  # every degree 0..lmax, like the anchors
        return lambda v: arr(e3xp.spherical_harmonics(irreps, v, normalize=True))

    builders = {"full_tp": full_tp, "fctp": fctp, "channelwise": channelwise, "linear": linear, "sh": sh}
    impls = []
    if "torch" in frameworks:
        impls += [Impl("e3xp", "torch", "e3xp", False, builders),
                  Impl("e3xp+compile", "torch", "e3xp", False, builders, compiled=True)]
    if "jax" in frameworks:
        impls.append(Impl("e3xp", "jax", "e3xp", False, builders))
    if "numpy" in frameworks:
        impls.append(Impl("e3xp", "numpy", "e3xp", False, builders))
    if "cupy" in frameworks:
        impls.append(Impl("e3xp", "cupy", "e3xp", False, builders))
    return impls, ""


def _flatten(params):
    """(leaves, unflatten) for an array or a dict/list/tuple of arrays."""
    if isinstance(params, dict):
        keys = list(params)
        subs = [_flatten(params[k]) for k in keys]

        def unflatten(leaves):
            out, i = {}, 0
            for k, (ls, uf) in zip(keys, subs):
                out[k] = uf(leaves[i : i + len(ls)])
                i += len(ls)
            return out

        return [l for ls, _ in subs for l in ls], unflatten
    if isinstance(params, (list, tuple)):
        subs = [_flatten(p) for p in params]

        def unflatten(leaves):
            out, i = [], 0
            for ls, uf in subs:
                out.append(uf(leaves[i : i + len(ls)]))
                i += len(ls)
            return type(params)(out)

        return [l for ls, _ in subs for l in ls], unflatten
    return [params], lambda leaves: leaves[0]


# =========================================================================== framework glue
def to_framework(x: np.ndarray, fw: str, device: str = "cpu"):
    if fw == "torch":
        import torch

        return torch.from_numpy(np.array(x, copy=True)).to(device)
    if fw == "jax":
        import jax

        return jax.device_put(np.array(x, copy=True))  # jax's default device: the GPU when it has one
    if fw == "cupy":
        import cupy

        return cupy.asarray(x)
    return np.array(x, copy=True)


def _synced(run, fw, device):
    """Make a GPU step blocking, so the wall clock measures the kernels."""
    if device == "cpu":
        return run
    if fw == "torch":
        import torch

        def synced():
            out = run()
            torch.cuda.synchronize()
            return out

        return synced
    if fw == "cupy":
        import cupy

        def synced():
            out = run()
            cupy.cuda.Device().synchronize()
            return out

        return synced
    return run  # jax steps already block_until_ready


def _split_builder(res, arrays):
    if isinstance(res, tuple):
        return res
    return res, list(arrays.values())


@dataclass
class Step:
    run: callable  # one complete, blocking call
    jax_compiled: object = None  # for XLA's memory analysis
    torch_leaves: list = field(default_factory=list)


def make_step(impl: Impl, wl, arrays: dict, r_np: np.ndarray, mode: str, device: str = "cpu") -> Step:
    step = _make_step(impl, wl, arrays, r_np, mode, device)
    step.run = _synced(step.run, impl.framework, device)
    return step


def _make_step(impl: Impl, wl, arrays: dict, r_np: np.ndarray, mode: str, device: str) -> Step:
    """Build the implementation and wrap it as the timed step of `mode`.

    The last argument is the one the force-like gradient of the double backward is
    taken with respect to (y, the edge harmonics, in workload c).
    """
    fw = impl.framework
    if fw == "torch":
        import torch

        with impl.build_context():
            f, args = _split_builder(impl.builders[wl.kind](wl, arrays), arrays)
        if impl.compiled:
            f = torch.compile(f, dynamic=False)
        r = torch.from_numpy(r_np).to(device)
        if mode == "fwd":
            def run():
                with torch.no_grad():
                    return f(*args)
            return Step(run)
        leaves = [t.detach().clone().requires_grad_(True) for t in args]
        if mode == "fwd+bwd":
            def run():
                out = f(*leaves)
                return out, torch.autograd.grad(out, leaves, r)
            return Step(run, torch_leaves=leaves)
        if mode == "dbl-bwd":
            def run():
                out = f(*leaves)
                (gy,) = torch.autograd.grad(out, leaves[-1], r, create_graph=True)
                return torch.autograd.grad((gy * gy).sum(), leaves[:-1])
            return Step(run, torch_leaves=leaves)
    elif fw == "jax":
        import jax
        import jax.numpy as jnp

        f, args = _split_builder(impl.builders[wl.kind](wl, arrays), arrays)
        r = jax.device_put(r_np)  # an argument, not a constant baked into the program
        n = len(args)
        if mode == "fwd":
            g = lambda r_, *a: f(*a)
        elif mode == "fwd+bwd":
            def g(r_, *a):
                out, vjp = jax.vjp(f, *a)
                return out, vjp(r_)
        elif mode == "dbl-bwd":
            def loss(r_, *a):
                gy = jax.grad(lambda *b: jnp.sum(f(*b) * r_), argnums=n - 1)(*a)
                return jnp.sum(gy * gy)
            g = jax.grad(loss, argnums=tuple(range(1, n)))
        compiled = jax.jit(g).lower(r, *args).compile()
        return Step(lambda: jax.block_until_ready(compiled(r, *args)), jax_compiled=compiled)
    elif fw in ("numpy", "cupy"):
        if mode != "fwd":
            raise NotImplementedError(f"{fw} has no autodiff: forward only")
        f, args = _split_builder(impl.builders[wl.kind](wl, arrays), arrays)
        return Step(lambda: f(*args))
    raise ValueError(mode)


# =========================================================================== memory
def _proc_status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def rss_growth(run) -> float | None:
    """Peak RSS growth during one call, bytes (VmHWM reset via /proc/self/clear_refs).

    Coarse: freed heap pages that are reused do not show, so it can under-count; it is
    the same yardstick for every framework.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None
    gc.collect()
    before = _proc_status_kb("VmRSS")
    out = run()
    peak = _proc_status_kb("VmHWM")
    del out
    return max(0, peak - before) * 1024.0


def torch_profiler_peak(run) -> float | None:
    """Peak of live bytes allocated through torch's CPU allocator during one call.

    Rebuilt from the profiler's allocation records: each op's own allocations at its
    start, frees ([memory] events or negative self usage) when they happen; outputs
    alive at the end are included.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = run()
    del out
    deltas = []
    for e in prof.events():
        m = e.self_cpu_memory_usage if e.name != "[memory]" else e.cpu_memory_usage
        if m:
            t = e.time_range.start if m > 0 else e.time_range.end
            deltas.append((t, m))
    if not deltas:
        return None
    deltas.sort()
    live = peak = 0
    for _, m in deltas:
        live += m
        peak = max(peak, live)
    return float(peak)


def peak_memory(impl: Impl, step: Step, device: str = "cpu") -> tuple[float | None, str]:
    """(bytes, method): the framework-specific measure named in README.md."""
    try:
        if device != "cpu" and impl.framework == "torch":
            import torch

            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            out = step.run()
            peak = torch.cuda.max_memory_allocated() - base
            del out
            return float(peak), "cuda"
        if impl.framework == "cupy":
            return None, "-"
        if impl.framework == "numpy":
            gc.collect()
            tracemalloc.start()
            out = step.run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            del out
            return float(peak), "tracemalloc"
        if impl.framework == "jax":
            ma = step.jax_compiled.memory_analysis()
            return float(ma.temp_size_in_bytes + ma.output_size_in_bytes), "xla"
        if impl.framework == "torch":
            p = torch_profiler_peak(step.run)
            if p:
                return p, "profiler"
    except Exception as exc:
        print(f"    peak memory failed: {exc}", file=sys.stderr)
    return None, "-"


# =========================================================================== measurement
@dataclass
class Result:
    workload: str
    mode: str
    framework: str
    impl: str
    library: str
    is_anchor: bool
    rows: int
    status: str = "ok"
    median_s: float = float("nan")
    min_s: float = float("nan")
    first_s: float = float("nan")
    repeats: int = 0
    gflops: float = float("nan")
    gbs: float = float("nan")
    peak_b: float | None = None
    peak_method: str = "-"
    rss_b: float | None = None
    ratio: float | None = None
    ratio_ref: str = ""


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds):
    """Interrupt a case that runs too long (e.g. cuequivariance's symbolic lmax-8 harmonics).

    SIGALRM interrupts Python code only, which is where such builds spend their time.
    """
    import signal

    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def handler(signum, frame):
        raise CaseTimeout(f"case exceeded {seconds:.0f} s (build, first call or repeats)")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def measure(impl, wl, data, r_np, mode, rows, repeats, warmup, device="cpu", timeout=None) -> Result:
    res = Result(wl.key, mode, impl.framework, impl.name, impl.library, impl.is_anchor, rows)
    step = None
    try:
        with time_limit(timeout):
            _measure(res, impl, wl, data, r_np, mode, rows, repeats, warmup, device)
    except Exception as exc:
        msg = str(exc).strip().splitlines()
        res.status = f"failed: {type(exc).__name__}: {msg[0][:160] if msg else ''}"
        if os.environ.get("E3XP_BENCH_TRACEBACK"):
            traceback.print_exc()
    finally:
        gc.collect()
    return res


def _measure(res, impl, wl, data, r_np, mode, rows, repeats, warmup, device):
    step = None
    try:
        arrays = {k: to_framework(v, impl.framework, device) for k, v in data.items()}
        if impl.compiled:
            import torch._dynamo

            torch._dynamo.reset()  # first call includes the compilation of this function
        gc.collect()
        t0 = time.perf_counter()
        step = make_step(impl, wl, arrays, r_np, mode, device)
        out = step.run()
        res.first_s = time.perf_counter() - t0
        _check_output(out, mode, rows, wl)
        del out
        for _ in range(max(0, warmup - 1)):
            step.run()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = step.run()
            times.append(time.perf_counter() - t0)
            del out
        res.median_s, res.min_s, res.repeats = statistics.median(times), min(times), len(times)
        res.gflops = wl.flops(mode, rows) / res.median_s / 1e9
        res.gbs = wl.bytes(mode, rows) / res.median_s / 1e9
        res.peak_b, res.peak_method = peak_memory(impl, step, device)
        if device == "cpu":
            res.rss_b = rss_growth(step.run)
    finally:
        del step


def _check_output(out, mode, rows, wl):
    """Guard against timing the wrong operation: the forward output must be (rows, out_dim)."""
    if mode == "dbl-bwd":
        return
    first = out[0] if mode == "fwd+bwd" else out
    shape = tuple(first.shape)
    if shape != (rows, wl.out_dim()):
        raise ValueError(f"output shape {shape}, expected {(rows, wl.out_dim())}")


def assign_ratios(results: list[Result]):
    """e3xp median / best anchor median of the same framework (numpy: of any framework)."""
    for r in results:
        if r.is_anchor or r.status != "ok":
            continue
        same = [a for a in results if a.is_anchor and a.status == "ok" and a.workload == r.workload
                and a.mode == r.mode and (a.framework == r.framework or r.framework in ("numpy", "cupy"))]
        if same:
            best = min(same, key=lambda a: a.median_s)
            r.ratio = r.median_s / best.median_s
            r.ratio_ref = f"{best.impl} ({best.framework})"


# =========================================================================== machine
def _gpu_name():
    try:
        import torch

        return torch.cuda.get_device_name(0)
    except Exception:
        return "unknown GPU"


def machine_rates(quick: bool, device: str = "cpu") -> dict:
    """Measured float32 matmul GFLOP/s and copy GB/s (read + write), medians of 5."""
    if device != "cpu":
        return _gpu_rates()
    rates = {}
    n = 1024 if quick else 2048
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = a.copy()

    def med(fn, k=5):
        fn()
        ts = []
        for _ in range(k):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    rates["numpy matmul GFLOP/s"] = 2 * n**3 / med(lambda: a @ b) / 1e9
    m = (16 if quick else 32) * 2**20  # float32 elements: 64 / 128 MB, beyond any cache
    src = np.ones(m, np.float32)
    dst = np.empty_like(src)
    rates["numpy copy GB/s"] = 2 * src.nbytes / med(lambda: np.copyto(dst, src)) / 1e9
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        rates["torch matmul GFLOP/s"] = 2 * n**3 / med(lambda: ta @ tb) / 1e9
        ts, td = torch.from_numpy(src), torch.from_numpy(dst)
        rates["torch copy GB/s"] = 2 * src.nbytes / med(lambda: td.copy_(ts)) / 1e9
    except ImportError:
        pass
    try:
        import jax

        ja, jb = jax.device_put(a), jax.device_put(b)
        mm = jax.jit(lambda x, y: x @ y)
        rates["jax matmul GFLOP/s"] = 2 * n**3 / med(lambda: mm(ja, jb).block_until_ready()) / 1e9
    except ImportError:
        pass
    rates["_sizes"] = f"matmul {n}x{n} @ {n}x{n}; copy {src.nbytes // 2**20} MiB"
    del src, dst
    return rates


def _gpu_rates() -> dict:
    import torch

    rates = {}
    n = 8192
    a = torch.randn(n, n, device="cuda")
    src = torch.ones(256 * 2**20, device="cuda")  # 1 GiB
    dst = torch.empty_like(src)

    def med(fn, k=5):
        fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(k):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    torch.backends.cuda.matmul.allow_tf32 = False  # the float32 rate, not TF32
    rates["torch cuda matmul GFLOP/s"] = 2 * n**3 / med(lambda: a @ a) / 1e9
    rates["torch cuda copy GB/s"] = 2 * src.numel() * 4 / med(lambda: dst.copy_(src)) / 1e9
    rates["numpy copy GB/s"] = rates["torch cuda copy GB/s"]  # the floor-time line reads this key
    rates["_sizes"] = f"matmul {n}x{n}, copy 1 GiB on {_gpu_name()}"
    del a, src, dst
    return rates


def _version(mod):
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "?")
    except Exception:
        return "not installed"


def machine_line() -> str:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = ""
    try:
        import torch

        threads = f", torch threads {torch.get_num_threads()}"
    except ImportError:
        pass
    mem = ""
    try:
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    vers = ", ".join(f"{m} {_version(m)}" for m in
                     ["numpy", "torch", "jax", "e3nn", "e3nn_jax", "cuequivariance", "cuequivariance_torch",
                      "cuequivariance_jax", "e3xp"])
    flags = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "XLA_FLAGS", "GLIBC_TUNABLES") if os.environ.get(k)]
    if flags:
        vers += "; " + ", ".join(flags)
    return (f"{model}, {cores} cores{threads}{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {vers}")


# =========================================================================== report
def _fmt(v, spec, none="-"):
    if v is None or (isinstance(v, float) and v != v):
        return none
    return format(v, spec)


def _mb(b):
    if b is None:
        return "-"
    mb = b / 2**20
    return f"{mb:.1f}" if mb < 10 else f"{mb:.0f}"


_FW_ORDER = {"torch": 0, "jax": 1, "numpy": 2, "cupy": 3}


def render(results, rates, args, command, missing, e3xp_note, wall_s, started, frameworks=()) -> str:
    L = []
    where = "CPU" if args.device == "cpu" else "GPU"
    L.append(f"# Benchmark results: e3xp vs e3nn, e3nn-jax, cuequivariance ({where})")
    L.append("")
    L.append(f"Command: `{command}`  ")
    L.append(f"Run: {started}, {wall_s:.0f} s wall, {'--quick sizes' if args.quick else 'full sizes'}, "
             f"median of {args.repeats} repeats after {args.warmup} warm-up call(s).  ")
    L.append(f"Machine: {machine_line()}")
    L.append("")
    rate_txt = "; ".join(f"{k} {v:.1f}" for k, v in rates.items() if not k.startswith("_"))
    L.append(f"Machine rates (float32, {rates.get('_sizes', '')}): {rate_txt}.")
    L.append("")
    if e3xp_note:
        L.append(f"**{e3xp_note}** -- only the anchors ran; e3xp rows appear once its API imports.")
        L.append("")
    for name, why in missing.items():
        L.append(f"- anchor **{name}** did not run: {why}")
    if missing:
        L.append("")
    if args.device == "cpu":
        L.append("GPU: this is a CPU run; the GPU table comes from `benchmarks/gpu.sh` "
                 "(benchmarks/RESULTS-gpu.md), which has not run on a GPU yet.")
    else:
        L.append(f"GPU: {_gpu_name()}.")
    L.append("")
    L.append("Columns: median / min ms of the timed calls; ratio = e3xp median / best anchor median of the same "
             "framework (numpy e3xp: of any framework); GFLOP/s and GB/s = counted FLOPs and floor bytes "
             "(workloads.py) / median; first = build + first call (plan/module construction, tracing, "
             "jit or compile); peak = extra memory of one call (torch: profiler allocation timeline; jax: XLA "
             "temp + output buffers; numpy: tracemalloc); RSS+ = peak resident-set growth of one call.")
    L.append("")
    for wl in args.wls:
        rows = [r for r in results if r.workload == wl.key]
        if not rows:
            continue
        nrows = rows[0].rows
        L.append(f"## {wl.title}" + (f" -- run with {nrows:,} rows" if nrows != wl.rows else ""))
        L.append("")
        L.append(f"Counted per call: forward {wl.flops('fwd', nrows) / 1e9:.3f} GFLOP, "
                 f"{wl.bytes('fwd', nrows) / 1e6:.1f} MB floor "
                 f"(floor time at {rates.get('numpy copy GB/s', float('nan')):.1f} GB/s copy: "
                 f"{wl.bytes('fwd', nrows) / 1e9 / rates.get('numpy copy GB/s', float('nan')) * 1e3:.1f} ms).")
        L.append("")
        L.append("| mode | framework | implementation | median ms | min ms | ratio | GFLOP/s | GB/s | first s | "
                 "peak MB | RSS+ MB |")
        L.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode in wl.modes:
            for r in sorted([x for x in rows if x.mode == mode],
                            key=lambda x: (_FW_ORDER.get(x.framework, 9), not x.is_anchor)):
                if r.status != "ok":
                    L.append(f"| {mode} | {r.framework} | {r.impl} | {r.status} | | | | | | | |")
                    continue
                ratio = _fmt(r.ratio, ".2f")
                L.append(f"| {mode} | {r.framework} | {r.impl} | {r.median_s * 1e3:.1f} | {r.min_s * 1e3:.1f} | "
                         f"{ratio} | {r.gflops:.2f} | {r.gbs:.2f} | {r.first_s:.2f} | "
                         f"{_mb(r.peak_b)} ({r.peak_method}) | {_mb(r.rss_b)} |")
        L.append("")
    # targets
    e3 = [r for r in results if not r.is_anchor]
    L.append("## Targets (issue 5)")
    L.append("")
    if not e3:
        L.append("Not evaluated: no e3xp rows. " + (e3xp_note or ""))
    else:
        L.append("| workload | mode | framework | implementation | ratio | target | first s | peak <= best anchor |")
        L.append("|---|---|---|---|---:|---:|---:|---|")
        for r in e3:
            tgt = TARGETS.get(r.workload)
            if r.status != "ok":
                L.append(f"| {r.workload} | {r.mode} | {r.framework} | {r.impl} | {r.status} | {tgt} | | |")
                continue
            ok = r.ratio is not None and r.ratio <= tgt
            verdict = "no anchor" if r.ratio is None else ("ok" if ok else "MISSED")
            anchors = [a for a in results if a.is_anchor and a.status == "ok" and a.workload == r.workload
                       and a.mode == r.mode and a.framework == r.framework and a.peak_b]
            best_peak = min((a.peak_b for a in anchors), default=None)
            mem_ok = "-" if best_peak is None or r.peak_b is None else ("yes" if r.peak_b <= best_peak else "NO")
            ft = FIRST_CALL_TARGET_S.get(r.workload)
            first = f"{r.first_s:.2f}" + ("" if ft is None else (" ok" if r.first_s <= ft else f" > {ft}"))
            L.append(f"| {r.workload} | {r.mode} | {r.framework} | {r.impl} | {_fmt(r.ratio, '.2f')} "
                     f"{verdict} | {tgt} | {first} | {mem_ok} |")
    L.append("")
    return "\n".join(L)


# =========================================================================== main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke check in under 2 minutes: 50-200 rows (10,000 vectors for (e)), forward+backward "
                        "(and double backward) only, numpy forward, no lmax-8 case, no torch.compile or "
                        "secondary variants, one warm-up call, and a 105 s budget")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds; cases not started within it are listed as skipped (default: none, 105 with --quick)")
    p.add_argument("--workloads", default="a,b,c,d,e", help="subset of a,b,c,d,e (e = e3,e8)")
    p.add_argument("--frameworks", default="torch,jax,numpy", help="subset of torch,jax,numpy (and cupy on a GPU)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: torch tensors on the GPU, jax on its GPU backend, cupy, cuequivariance's CUDA "
                        "methods (benchmarks/gpu.sh)")
    p.add_argument("--case-timeout", type=float, default=None,
                   help="seconds per (workload, mode, implementation) case (default 300, 20 with --quick); "
                        "a timed-out case skips that implementation's other modes of the workload")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per case (>= 5 recommended)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls first, the first one included (default 2, 1 with --quick)")
    p.add_argument("--compile", dest="compile", action="store_true", default=None,
                   help="include torch.compile variants (default: on, off with --quick)")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for torch, BLAS and XLA (default: the frameworks' own, all cores); "
                        "1 gives steadier numbers on a shared machine")
    p.add_argument("--no-hugepages", action="store_true",
                   help="keep glibc's default allocator (by default the run re-executes itself with "
                        "GLIBC_TUNABLES=glibc.malloc.hugetlb=1 where THP is in madvise mode; see README.md)")
    p.add_argument("--only", default="", help="comma-separated implementation names to keep (e.g. e3nn,e3xp)")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--json", default="", help="also write the raw results as JSON here")
    args = p.parse_args(argv)
    if args.compile is None:
        args.compile = not args.quick
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.budget is None and args.quick:
        args.budget = 105.0
    args.wls = W.select(args.workloads)
    if args.quick and args.workloads == p.get_default("workloads"):
        args.wls = [w for w in args.wls if w.key != "e8"]
    frameworks = {f.strip() for f in args.frameworks.split(",") if f.strip()}
    bad = frameworks - {"torch", "jax", "numpy", "cupy"}
    if bad:
        p.error(f"unknown framework(s) {sorted(bad)}; expected a subset of torch,jax,numpy,cupy")
    if args.case_timeout is None:
        args.case_timeout = 20.0 if args.quick else 300.0
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t_start = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        if THREADS is None:  # main() called with an argv list: env vars are too late for BLAS / XLA
            print("note: --threads only reaches torch when passed through main(argv)", file=sys.stderr)
    if "jax" in frameworks:
        import jax

        jax.config.update("jax_enable_x64", False)  # float32 everywhere
    impls, missing = anchor_impls(frameworks, args.device)
    mine, e3xp_note = e3xp_impls(frameworks)
    impls += mine
    if not args.compile:
        impls = [i for i in impls if not i.compiled]
    if args.quick:
        impls = [i for i in impls if not i.secondary]
    if args.only:
        keep = {s.strip() for s in args.only.split(",")}
        impls = [i for i in impls if i.name in keep]
    print(f"implementations: {[f'{i.name} ({i.framework})' for i in impls]}", file=sys.stderr)
    if e3xp_note:
        print(e3xp_note, file=sys.stderr)
    for k, v in missing.items():
        print(f"anchor {k} unavailable: {v}", file=sys.stderr)

    print("measuring machine rates ...", file=sys.stderr)
    rates = machine_rates(args.quick, args.device)
    print({k: (round(v, 1) if isinstance(v, float) else v) for k, v in rates.items()}, file=sys.stderr)

    results = []
    timed_out = set()  # (impl, framework, workload) whose case ran out of time
    for wl in args.wls:
        rows = wl.quick_rows if args.quick else wl.rows
        data = wl.make_inputs(rows)
        r_np = wl.cotangent(rows)
        for impl in impls:
            if not impl.supports(wl.kind):
                continue
            for mode in wl.modes:
                if impl.framework in ("numpy", "cupy"):
                    if mode != "fwd":
                        continue
                elif args.quick and mode == "fwd":
                    continue  # forward+backward runs the forward too
                skip = ""
                if args.budget is not None and time.perf_counter() - t_start > args.budget:
                    skip = f"skipped: past the {args.budget:.0f} s budget"
                elif (impl.name, impl.framework, wl.key) in timed_out:
                    skip = "skipped: an earlier mode of this implementation timed out"
                if skip:
                    results.append(Result(wl.key, mode, impl.framework, impl.name, impl.library, impl.is_anchor,
                                          rows, status=skip))
                    continue
                res = measure(impl, wl, data, r_np, mode, rows, args.repeats, args.warmup, args.device,
                              args.case_timeout)
                if "CaseTimeout" in res.status:
                    timed_out.add((impl.name, impl.framework, wl.key))
                results.append(res)
                print(f"[{time.perf_counter() - t_start:6.0f}s] {wl.key} {mode:8s} {impl.framework:5s} "
                      f"{impl.name:18s} " + (f"median {res.median_s * 1e3:9.1f} ms  first {res.first_s:6.2f} s"
                                              if res.status == "ok" else res.status), file=sys.stderr)
    assign_ratios(results)
    wall = time.perf_counter() - t_start
    text = render(results, rates, args, command, missing, e3xp_note, wall, started, frameworks)
    with open(args.out, "w") as fh:
        fh.write(text + "\n")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"command": command, "machine": machine_line(), "rates": rates,
                       "results": [r.__dict__ for r in results]}, fh, indent=1, default=str)
    print(f"wrote {args.out} ({wall:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
