// The cuBLASLt GemmProvider of the nvcc build (blas.h), the route NVIDIA Apex's fused_dense
// and TransformerEngine take: vendor-speed GEMMs with fused epilogues (bias, relu, bias
// gradient). The library is loaded at RUN time with dlopen, so _core imports, and the CPU
// ops and our own GEMM kernels keep working, where it is missing; every failure returns
// false (never throws) and the plan falls back to kernels/cuda/matmul.cu.
//
// Where the library is looked for, in order: $TWINCORE_CUBLASLT (a file); an already
// loaded libcublasLt (torch/CuPy loaded it); the dynamic loader's path (libcublasLt.so.13,
// .12, unversioned); the pip wheels next to the modules already loaded or next to this
// module (site-packages/nvidia/cublas/lib, nvidia/cu13/lib, nvidia/cu12/lib); the CUDA
// toolkit ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda: lib64, targets/*/lib).
//
// The types and enums come from the toolkit's cublasLt.h where it has one, else from the
// declarations below (cublasLt.h's values, stable from CUDA 11.4 to 13).
//
// Row-major GemmDesc on column-major cuBLASLt: C[m,n] row-major is C^T[n,m] column-major,
// and C^T = op(B)^T . op(A)^T, so cuBLASLt's A is our B and its B our A (m, n swapped).
// Then our bias over columns n is cuBLASLt's bias over the rows of D (EPILOGUE_BIAS), and
// our bgrad (column sums of op(B) over k, the weight-gradient GEMM's bias gradient) is
// cuBLASLt's BGRADA: the bias gradient of ITS A operand, which is our B.
// Tanh is no cuBLASLt epilogue: for bias_tanh / tanh this provider returns false; a plan
// asks for `bias` (or `none`) and runs the activation kernel over C after (conv2d_gemm.cc).
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <unistd.h>
#include <link.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "gpu/blas.h"
#include "gpu/gemm_reference.h"
#include "python/bridge.h"

namespace {

// ---- cublasLt.h, the part we use ----
// Where the toolkit ships cublasLt.h its types and values are used (and ours must agree);
// elsewhere (this CI machine's toolkit has no cuBLAS) the values of cublasLt.h 11.4-13.
// Our own names for the handles (opaque pointers) and the status (an int), so they never
// clash with the header's.
typedef int LtStatus;
typedef void* LtHandle;
typedef void* LtDesc;
typedef void* LtLayout;
typedef void* LtPref;
}  // namespace
#if __has_include(<cublasLt.h>)
#include <cublasLt.h>
namespace {
using LtAlgo = cublasLtMatmulAlgo_t;
using LtHeuristic = cublasLtMatmulHeuristicResult_t;
enum : int {
  kComputeF32 = CUBLAS_COMPUTE_32F, kComputeF32FastTF32 = CUBLAS_COMPUTE_32F_FAST_TF32, kComputeF64 = CUBLAS_COMPUTE_64F,
  kR32F = CUDA_R_32F, kR64F = CUDA_R_64F, kR16F = CUDA_R_16F, kR16BF = CUDA_R_16BF,
  kOpN = CUBLAS_OP_N, kOpT = CUBLAS_OP_T,
  kDescComputeType = CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, kDescScaleType = CUBLASLT_MATMUL_DESC_SCALE_TYPE,
  kDescTransA = CUBLASLT_MATMUL_DESC_TRANSA, kDescTransB = CUBLASLT_MATMUL_DESC_TRANSB,
  kDescEpilogue = CUBLASLT_MATMUL_DESC_EPILOGUE, kDescBiasPointer = CUBLASLT_MATMUL_DESC_BIAS_POINTER,
  kLayoutBatchCount = CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, kLayoutBatchStride = CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
  kPrefMaxWorkspace = CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, kPrefAlignA = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
  kPrefAlignB = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, kPrefAlignC = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
  kPrefAlignD = CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
  kEpiDefault = CUBLASLT_EPILOGUE_DEFAULT, kEpiRelu = CUBLASLT_EPILOGUE_RELU, kEpiBias = CUBLASLT_EPILOGUE_BIAS,
  kEpiReluBias = CUBLASLT_EPILOGUE_RELU_BIAS, kEpiBgradA = CUBLASLT_EPILOGUE_BGRADA, kEpiBgradB = CUBLASLT_EPILOGUE_BGRADB,
};
#else
namespace {
struct LtAlgo {
  uint64_t data[8];
};
struct LtHeuristic {
  LtAlgo algo;
  size_t workspaceSize;
  LtStatus state;
  float wavesCount;
  int reserved[4];
};
enum : int {
  kComputeF32 = 68, kComputeF32FastTF32 = 77, kComputeF64 = 70,  // cublasComputeType_t
  kR32F = 0, kR64F = 1, kR16F = 2, kR16BF = 14,                    // cudaDataType_t
  kOpN = 0, kOpT = 1,                                             // cublasOperation_t
  kDescComputeType = 0, kDescScaleType = 1, kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7,
  kDescBiasPointer = 8,                                           // cublasLtMatmulDescAttributes_t
  kLayoutBatchCount = 5, kLayoutBatchStride = 6,                  // cublasLtMatrixLayoutAttribute_t
  kPrefMaxWorkspace = 1, kPrefAlignA = 5, kPrefAlignB = 6, kPrefAlignC = 7, kPrefAlignD = 8,
  kEpiDefault = 1, kEpiRelu = 2, kEpiBias = 4, kEpiReluBias = 6, kEpiBgradA = 256, kEpiBgradB = 512,
};
static_assert(sizeof(LtHeuristic) == 96 && sizeof(LtAlgo) == 64, "cublasLtMatmulHeuristicResult_t's layout");
#endif

// ---- the functions, resolved with dlsym ----
struct Lt {
  void* lib = nullptr;
  std::string path, error;
  LtStatus (*create)(LtHandle*) = nullptr;
  LtStatus (*desc_create)(LtDesc*, int, int) = nullptr;
  LtStatus (*desc_destroy)(LtDesc) = nullptr;
  LtStatus (*desc_set)(LtDesc, int, const void*, size_t) = nullptr;
  LtStatus (*layout_create)(LtLayout*, int, uint64_t, uint64_t, int64_t) = nullptr;
  LtStatus (*layout_destroy)(LtLayout) = nullptr;
  LtStatus (*layout_set)(LtLayout, int, const void*, size_t) = nullptr;
  LtStatus (*pref_create)(LtPref*) = nullptr;
  LtStatus (*pref_destroy)(LtPref) = nullptr;
  LtStatus (*pref_set)(LtPref, int, const void*, size_t) = nullptr;
  LtStatus (*heuristic)(LtHandle, LtDesc, LtLayout, LtLayout,
                              LtLayout, LtLayout, LtPref, int,
                              LtHeuristic*, int*) = nullptr;
  LtStatus (*matmul)(LtHandle, LtDesc, const void*, const void*, LtLayout,
                           const void*, LtLayout, const void*, const void*, LtLayout,
                           void*, LtLayout, const LtAlgo*, void*, size_t, cudaStream_t) = nullptr;
};

bool file_exists(const std::string& p) { return !p.empty() && access(p.c_str(), R_OK) == 0; }
std::string dir_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? std::string(".") : p.substr(0, s);
}

// Paths of the shared objects loaded in this process (torch / CuPy / our own module).
std::vector<std::string> loaded_objects() {
  std::vector<std::string> out;
  dl_iterate_phdr([](dl_phdr_info* info, size_t, void* data) {
    if (info->dlpi_name && *info->dlpi_name) static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name);
    return 0;
  }, &out);
  return out;
}

// Every site-packages-like folder above the loaded objects: a wheel's libcublasLt lies in
// <site>/nvidia/cublas/lib (CUDA 12 wheels, nvidia-cublas) or <site>/nvidia/cu13/lib.
std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("TWINCORE_CUBLASLT")) c.push_back(env);
  std::vector<std::string> objs = loaded_objects();
  for (const auto& o : objs)
    if (o.find("libcublasLt.so") != std::string::npos) c.push_back(o);
  for (const char* n : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) c.push_back(n);
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&candidates), &self) && self.dli_fname) objs.push_back(self.dli_fname);
  std::vector<std::string> sites;
  for (const auto& o : objs) {
    for (const char* marker : {"/site-packages/", "/dist-packages/"}) {
      auto at = o.find(marker);
      if (at != std::string::npos) sites.push_back(o.substr(0, at + std::strlen(marker)));
    }
  }
  for (const auto& s : sites)
    for (const char* sub : {"nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cublas/lib/libcublasLt.so.13",
                            "nvidia/cublas/lib/libcublasLt.so.12", "nvidia/cu12/lib/libcublasLt.so.12"})
      c.push_back(s + sub);
  std::vector<std::string> roots;
  for (const char* e : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* v = std::getenv(e)) roots.push_back(v);
  roots.push_back("/usr/local/cuda");
  for (const auto& r : roots)
    for (const char* sub : {"/lib64/", "/targets/x86_64-linux/lib/", "/targets/sbsa-linux/lib/", "/lib/"})
      for (const char* n : {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"}) c.push_back(r + sub + n);
  return c;
}

template <typename F>
bool sym(Lt& lt, F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(lt.lib, name));
  if (!f) lt.error = std::string("no symbol ") + name + " in " + lt.path;
  return f != nullptr;
}

Lt load_lt() {
  Lt lt;
  std::string tried;
  for (const auto& cand : candidates()) {
    const bool bare = cand.find('/') == std::string::npos;
    if (!bare && !file_exists(cand)) continue;
    void* h = dlopen(cand.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      tried += std::string(tried.empty() ? "" : "; ") + cand + ": " + dlerror();
      continue;
    }
    lt.lib = h;
    lt.path = cand;
    break;
  }
  if (!lt.lib) {
    lt.error = "libcublasLt not found (set TWINCORE_CUBLASLT to its path, or install nvidia-cublas)";
    return lt;
  }
  bool ok = sym(lt, lt.create, "cublasLtCreate") && sym(lt, lt.desc_create, "cublasLtMatmulDescCreate") &&
            sym(lt, lt.desc_destroy, "cublasLtMatmulDescDestroy") &&
            sym(lt, lt.desc_set, "cublasLtMatmulDescSetAttribute") &&
            sym(lt, lt.layout_create, "cublasLtMatrixLayoutCreate") &&
            sym(lt, lt.layout_destroy, "cublasLtMatrixLayoutDestroy") &&
            sym(lt, lt.layout_set, "cublasLtMatrixLayoutSetAttribute") &&
            sym(lt, lt.pref_create, "cublasLtMatmulPreferenceCreate") &&
            sym(lt, lt.pref_destroy, "cublasLtMatmulPreferenceDestroy") &&
            sym(lt, lt.pref_set, "cublasLtMatmulPreferenceSetAttribute") &&
            sym(lt, lt.heuristic, "cublasLtMatmulAlgoGetHeuristic") && sym(lt, lt.matmul, "cublasLtMatmul");
  if (!ok) {
    dlclose(lt.lib);
    lt.lib = nullptr;
  }
  return lt;
}

std::mutex g_mu;  // guards everything below; launches are asynchronous, so it is held briefly

Lt& lt() {  // loaded once, on first use (not at import: dlopen of cuBLASLt takes a while)
  static Lt l = load_lt();
  return l;
}

constexpr size_t kWorkspace = 32u << 20;

struct PerDevice {
  LtHandle handle = nullptr;
  bool failed = false;
  std::map<uintptr_t, void*> workspace;  // one per stream: concurrent streams must not share it
};
std::map<int, PerDevice>& devices() {
  static std::map<int, PerDevice> d;
  return d;
}

// One cached plan per problem: descriptors and the heuristic's algorithm (nullopt-like
// `ok = false` when the heuristic found none, so it is not asked again).
using Key = std::tuple<int, int, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int, int, int, int, int, int>;
struct Plan {
  bool ok = false;
  LtDesc desc = nullptr;
  LtLayout la = nullptr, lb = nullptr, lc = nullptr;
  LtAlgo algo{};
  size_t workspace = 0;
};
std::map<Key, Plan>& plans() {
  static std::map<Key, Plan> p;
  return p;
}

// Bytes (a power of two, at most 256) that every row and every batch entry of an operand
// is aligned to: the base address, the leading dimension and the batch stride all count
// (the heuristic otherwise assumes 256 and may pick vector loads that fault).
int alignment(const void* p, int64_t ld, int64_t batch_stride, int elt) {
  uint64_t a = 256;
  const uint64_t addr = reinterpret_cast<uint64_t>(p), ldb = uint64_t(ld) * elt, sb = uint64_t(batch_stride) * elt;
  while (a > 1 && ((addr % a) || (ldb % a) || (sb % a))) a >>= 1;
  return int(a);
}

struct DeviceGuard {
  int prev = -1;
  bool ok = true;
  explicit DeviceGuard(int device) {
    if (cudaGetDevice(&prev) != cudaSuccess) {
      cudaGetLastError();
      ok = false;
      return;
    }
    if (prev != device && cudaSetDevice(device) != cudaSuccess) {
      cudaGetLastError();
      ok = false;
    }
  }
  ~DeviceGuard() {
    if (ok && prev >= 0) cudaSetDevice(prev);
  }
};

bool build_plan(Lt& l, LtHandle handle, const tc::gpu::GemmDesc& d, int ldt, int compute, int scale,
                int epi, int al_a, int al_b, int al_c, Plan& p) {
  auto OK = [](LtStatus s) { return s == 0; };
  if (!OK(l.desc_create(&p.desc, compute, scale))) return false;
  // cuBLASLt A = our B (n x k after op), cuBLASLt B = our A (k x m after op).
  const int32_t ta = d.trans_b ? kOpT : kOpN, tb = d.trans_a ? kOpT : kOpN;
  if (!OK(l.desc_set(p.desc, kDescTransA, &ta, sizeof ta)) || !OK(l.desc_set(p.desc, kDescTransB, &tb, sizeof tb)) ||
      !OK(l.desc_set(p.desc, kDescEpilogue, &epi, sizeof epi)))
    return false;
  // Column-major views of the row-major operands: stored [r, c] with ld -> (c rows, r cols).
  const uint64_t a_rows = d.trans_b ? d.k : d.n, a_cols = d.trans_b ? d.n : d.k;  // our B
  const uint64_t b_rows = d.trans_a ? d.m : d.k, b_cols = d.trans_a ? d.k : d.m;  // our A
  if (!OK(l.layout_create(&p.la, ldt, a_rows, a_cols, d.ldb)) || !OK(l.layout_create(&p.lb, ldt, b_rows, b_cols, d.lda)) ||
      !OK(l.layout_create(&p.lc, ldt, uint64_t(d.n), uint64_t(d.m), d.ldc)))
    return false;
  if (d.batch > 1) {
    const int32_t count = int32_t(d.batch);
    const int64_t sa = d.stride_b, sb = d.stride_a, sc = d.stride_c;
    for (auto [lay, stride] : {std::pair{p.la, sa}, std::pair{p.lb, sb}, std::pair{p.lc, sc}})
      if (!OK(l.layout_set(lay, kLayoutBatchCount, &count, sizeof count)) ||
          !OK(l.layout_set(lay, kLayoutBatchStride, &stride, sizeof stride)))
        return false;
  }
  LtPref pref = nullptr;
  if (!OK(l.pref_create(&pref))) return false;
  const uint64_t ws = kWorkspace;
  const uint32_t a_al = uint32_t(al_b), b_al = uint32_t(al_a), c_al = uint32_t(al_c);  // swapped as the operands
  bool set = OK(l.pref_set(pref, kPrefMaxWorkspace, &ws, sizeof ws)) && OK(l.pref_set(pref, kPrefAlignA, &a_al, 4)) &&
             OK(l.pref_set(pref, kPrefAlignB, &b_al, 4)) && OK(l.pref_set(pref, kPrefAlignC, &c_al, 4)) &&
             OK(l.pref_set(pref, kPrefAlignD, &c_al, 4));
  LtHeuristic h{};
  int found = 0;
  // The heuristic reads the bias pointer's alignment: give it the call's (same alignment
  // class for every later call of this key: the key holds the bias alignment).
  const void* bias_ptr = epi == kEpiBgradA ? d.bias_grad : d.bias;
  if (set && bias_ptr) set = OK(l.desc_set(p.desc, kDescBiasPointer, &bias_ptr, sizeof bias_ptr));
  if (set) set = OK(l.heuristic(handle, p.desc, p.la, p.lb, p.lc, p.lc, pref, 1, &h, &found));
  l.pref_destroy(pref);
  if (!set || found < 1 || h.state != 0) return false;
  p.algo = h.algo;
  p.workspace = h.workspaceSize;
  return true;
}

void free_plan(Lt& l, Plan& p) {
  if (p.desc) l.desc_destroy(p.desc);
  for (auto* lay : {p.la, p.lb, p.lc})
    if (lay) l.layout_destroy(lay);
  p = Plan{};
}

bool cublaslt_gemm(const tc::gpu::GemmDesc& d, int device, uintptr_t stream) {
  using tc::DType;
  using tc::gpu::Epilogue;
  int ldt, compute, scale, elt;
  switch (d.dtype) {
    case DType::f32: ldt = kR32F; compute = d.allow_tf32 ? kComputeF32FastTF32 : kComputeF32; scale = kR32F; elt = 4; break;
    case DType::f64: ldt = kR64F; compute = kComputeF64; scale = kR64F; elt = 8; break;
    case DType::f16: ldt = kR16F; compute = kComputeF32; scale = kR32F; elt = 2; break;
    case DType::bf16: ldt = kR16BF; compute = kComputeF32; scale = kR32F; elt = 2; break;
    default: return false;
  }
  int epi;
  switch (d.epilogue) {
    case Epilogue::none: epi = kEpiDefault; break;
    case Epilogue::bias: epi = kEpiBias; break;
    case Epilogue::relu: epi = kEpiRelu; break;
    case Epilogue::bias_relu: epi = kEpiReluBias; break;
    case Epilogue::bgrad: epi = kEpiBgradA; break;  // our B is cuBLASLt's A (see the top)
    default: return false;                           // tanh: the plan runs it as a kernel
  }
  if ((epi == kEpiBias || epi == kEpiReluBias) && !d.bias) return false;
  if (epi == kEpiBgradA && (!d.bias_grad || d.batch != 1)) return false;
  if (d.m > INT32_MAX || d.n > INT32_MAX || d.k > INT32_MAX || d.batch > INT32_MAX || d.k == 0) return false;
  std::lock_guard<std::mutex> lock(g_mu);
  Lt& l = lt();
  if (!l.lib) return false;
  DeviceGuard guard(device);
  if (!guard.ok) return false;
  PerDevice& pd = devices()[device];
  if (pd.failed) return false;
  if (!pd.handle && l.create(&pd.handle) != 0) {
    pd.failed = true;
    pd.handle = nullptr;
    return false;
  }
  void*& ws = pd.workspace[stream];
  if (!ws) {
    if (cudaMalloc(&ws, kWorkspace) != cudaSuccess) {
      cudaGetLastError();
      ws = nullptr;
      return false;
    }
  }
  const int64_t batch_strides[3] = {d.batch > 1 ? d.stride_a : 0, d.batch > 1 ? d.stride_b : 0,
                                    d.batch > 1 ? d.stride_c : 0};
  const int al_a = alignment(d.a, d.lda, batch_strides[0], elt), al_b = alignment(d.b, d.ldb, batch_strides[1], elt),
            al_c = alignment(d.c, d.ldc, batch_strides[2], elt);
  const void* bias_ptr = epi == kEpiBgradA ? d.bias_grad : d.bias;
  const int al_bias = bias_ptr ? alignment(bias_ptr, 0, 0, elt) : 0;
  Key key{device, int(d.dtype), int(d.trans_a) | int(d.trans_b) << 1 | int(d.beta != 0) << 2, epi, d.m, d.n, d.k,
          d.lda, d.ldb, d.ldc, d.batch, batch_strides[0], batch_strides[1], batch_strides[2],
          compute, al_a, al_b, al_c, al_bias, 0};
  auto it = plans().find(key);
  if (it == plans().end()) {
    Plan p;
    p.ok = build_plan(l, pd.handle, d, ldt, compute, scale, epi, al_a, al_b, al_c, p);
    if (!p.ok) free_plan(l, p);
    it = plans().emplace(key, p).first;
  }
  Plan& p = it->second;
  if (!p.ok) return false;
  if (bias_ptr && l.desc_set(p.desc, kDescBiasPointer, &bias_ptr, sizeof bias_ptr) != 0) return false;
  const float af = float(d.alpha), bf = float(d.beta);
  const void* alpha = d.dtype == DType::f64 ? static_cast<const void*>(&d.alpha) : &af;
  const void* beta = d.dtype == DType::f64 ? static_cast<const void*>(&d.beta) : &bf;
  const LtStatus s = l.matmul(pd.handle, p.desc, alpha, d.b, p.la, d.a, p.lb, beta, d.c, p.lc, d.c, p.lc,
                                    &p.algo, ws, kWorkspace, reinterpret_cast<cudaStream_t>(stream));
  return s == 0;
}

bool cublaslt_available() {
  std::lock_guard<std::mutex> lock(g_mu);
  return lt().lib != nullptr;
}

// Registered at load: a table entry only, no CUDA call and no dlopen before the first GEMM.
[[maybe_unused]] const int g_registered = [] {
  tc::gpu::set_gemm_provider(&cublaslt_gemm, "cublaslt");
  tc::gpu::set_gemm_probe(&cublaslt_available);
  return 0;
}();

}  // namespace

TC_BIND(cublaslt) {
  m.def("cublaslt_info", [] {
    pybind11::dict out;
    std::lock_guard<std::mutex> lock(g_mu);
    Lt& l = lt();
    out["loaded"] = l.lib != nullptr;
    out["path"] = l.path;
    out["error"] = l.error;
    out["cached_plans"] = plans().size();
    return out;
  }, "Where cuBLASLt was loaded from (dlopen at run time), or why not.");
}
