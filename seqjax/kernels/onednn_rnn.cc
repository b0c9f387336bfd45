// seqjax's oneDNN back end: oneDNN's fused RNN primitives as XLA FFI handlers (CPU).
//
// One call runs one layer in one direction over a whole [T, N, I] batch (time-major):
//   kind 0: LSTM (gates i, f, g, o; oneDNN's own order, seqjax's too)
//   kind 1: GRU, linear-before-reset (oneDNN's lbr_gru: gates u, r, o with a fourth bias b_u'
//           inside the reset, which is seqjax's reset-after GRU with gates reordered z, r, n)
//   kind 2: vanilla RNN, tanh;  kind 3: vanilla RNN, relu
// `reverse` runs right to left (oneDNN's unidirectional_right2left). Weights arrive in the plain
// ldigo layout ([I, G*H] row-major == seqjax's w_ih with gates in oneDNN's order) and are
// reordered into the layout the primitive prefers on every call (a few hundred kB; the caller
// holds them in seqjax's layout so optimizers and checkpoints see one format).
//
// Handlers:
//   seqjax_onednn_rnn_fwd  (x, h0, c0, w_layer, w_iter, bias) -> (y, hT, cT, workspace)
//       attr training: forward_training (fills the workspace the backward needs) or
//       forward_inference (workspace untouched).
//   seqjax_onednn_rnn_bwd  (x, h0, c0, w_layer, w_iter, bias, y, hT, cT, workspace, dy, dhT, dcT)
//       -> (dx, dh0, dc0, dw_layer, dw_iter, dbias)
// The workspace's byte size comes from seqjax_onednn_rnn_workspace_bytes (called at trace time);
// each handler checks every buffer's size against the primitive before touching it and returns
// an FFI error rather than reading past a buffer. Scratchpads are the caller's
// (scratchpad_mode::user), one per thread, so concurrent calls never share one.
//
// Every primitive runs on one thread of the extension's own (`Executor`), whichever XLA thread
// calls the handler: see `Executor` for why. SEQJAX_ONEDNN_CALLER_THREAD=1 in the environment
// runs them on the calling thread instead (the behaviour before, kept for comparison).
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <deque>
#include <functional>
#include <thread>
#include <tuple>
#include <unordered_map>

#include <unistd.h>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

constexpr int64_t kLstm = 0, kGruLbr = 1, kRnnTanh = 2, kRnnRelu = 3;

dnnl::engine& Engine() {
  static dnnl::engine* e = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *e;
}

struct Key {
  int64_t kind, reverse, T, N, I, H;
  bool operator<(const Key& o) const {
    return std::tie(kind, reverse, T, N, I, H) < std::tie(o.kind, o.reverse, o.T, o.N, o.I, o.H);
  }
};

int64_t Gates(int64_t kind) { return kind == kLstm ? 4 : kind == kGruLbr ? 3 : 1; }
int64_t BiasGates(int64_t kind) { return kind == kLstm ? 4 : kind == kGruLbr ? 4 : 1; }

memory::desc D(memory::dims d, tag t) { return memory::desc(d, dt::f32, t); }

struct Descs {
  memory::desc src, it, wl, wi, b, dst;
  Descs(const Key& k, bool any_weights)
      : src(D({k.T, k.N, k.I}, tag::tnc)),
        it(D({1, 1, k.N, k.H}, tag::ldnc)),
        wl(D({1, 1, k.I, Gates(k.kind), k.H}, any_weights ? tag::any : tag::ldigo)),
        wi(D({1, 1, k.H, Gates(k.kind), k.H}, any_weights ? tag::any : tag::ldigo)),
        b(D({1, 1, BiasGates(k.kind), k.H}, tag::ldgo)),
        dst(D({k.T, k.N, k.H}, tag::tnc)) {}
};

dnnl::rnn_direction Dir(const Key& k) {
  return k.reverse ? dnnl::rnn_direction::unidirectional_right2left
                   : dnnl::rnn_direction::unidirectional_left2right;
}

dnnl::primitive_attr Attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// One forward primitive (and its descriptor, the backward's hint).
struct Fwd {
  dnnl::primitive_desc pd;
  dnnl::primitive prim;
  memory::desc wl, wi, ws, scratch;
};
struct Bwd {
  dnnl::primitive_desc pd;
  dnnl::primitive prim;
  memory::desc wl, wi, dwl, dwi, scratch;
};

std::mutex mu;
std::map<std::pair<Key, bool>, std::unique_ptr<Fwd>>& FwdCache() {
  static auto* m = new std::map<std::pair<Key, bool>, std::unique_ptr<Fwd>>();
  return *m;
}
std::map<Key, std::unique_ptr<Bwd>>& BwdCache() {
  static auto* m = new std::map<Key, std::unique_ptr<Bwd>>();
  return *m;
}

Fwd* GetFwd(const Key& k, bool training) {
  std::lock_guard<std::mutex> lock(mu);
  auto& cache = FwdCache();
  auto it = cache.find({k, training});
  if (it != cache.end()) return it->second.get();
  Descs d(k, true);
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  Fwd* f = nullptr;
  if (k.kind == kLstm) {
    dnnl::lstm_forward::primitive_desc pd(Engine(), prop, Dir(k), d.src, d.it, d.it, d.wl, d.wi,
                                          d.b, d.dst, d.it, d.it, Attr());
    f = new Fwd{pd, dnnl::lstm_forward(pd), pd.weights_layer_desc(), pd.weights_iter_desc(),
                pd.workspace_desc(), pd.scratchpad_desc()};
  } else if (k.kind == kGruLbr) {
    dnnl::lbr_gru_forward::primitive_desc pd(Engine(), prop, Dir(k), d.src, d.it, d.wl, d.wi,
                                             d.b, d.dst, d.it, Attr());
    f = new Fwd{pd, dnnl::lbr_gru_forward(pd), pd.weights_layer_desc(), pd.weights_iter_desc(),
                pd.workspace_desc(), pd.scratchpad_desc()};
  } else {
    auto act = k.kind == kRnnTanh ? dnnl::algorithm::eltwise_tanh : dnnl::algorithm::eltwise_relu;
    dnnl::vanilla_rnn_forward::primitive_desc pd(Engine(), prop, act, Dir(k), d.src, d.it, d.wl,
                                                 d.wi, d.b, d.dst, d.it, 0.0f, Attr());
    f = new Fwd{pd, dnnl::vanilla_rnn_forward(pd), pd.weights_layer_desc(),
                pd.weights_iter_desc(), pd.workspace_desc(), pd.scratchpad_desc()};
  }
  cache[{k, training}].reset(f);
  return f;
}

Bwd* GetBwd(const Key& k) {
  Fwd* f = GetFwd(k, true);
  std::lock_guard<std::mutex> lock(mu);
  auto& cache = BwdCache();
  auto it = cache.find(k);
  if (it != cache.end()) return it->second.get();
  Descs d(k, true);
  auto prop = dnnl::prop_kind::backward;
  Bwd* b = nullptr;
  if (k.kind == kLstm) {
    dnnl::lstm_forward::primitive_desc hint(f->pd.get());
    dnnl::lstm_backward::primitive_desc pd(Engine(), prop, Dir(k), d.src, d.it, d.it, d.wl, d.wi,
                                           d.b, d.dst, d.it, d.it, d.src, d.it, d.it, d.wl, d.wi,
                                           d.b, d.dst, d.it, d.it, hint, Attr());
    b = new Bwd{pd, dnnl::lstm_backward(pd), pd.weights_layer_desc(), pd.weights_iter_desc(),
                pd.diff_weights_layer_desc(), pd.diff_weights_iter_desc(), pd.scratchpad_desc()};
  } else if (k.kind == kGruLbr) {
    dnnl::lbr_gru_forward::primitive_desc hint(f->pd.get());
    dnnl::lbr_gru_backward::primitive_desc pd(Engine(), prop, Dir(k), d.src, d.it, d.wl, d.wi,
                                              d.b, d.dst, d.it, d.src, d.it, d.wl, d.wi, d.b,
                                              d.dst, d.it, hint, Attr());
    b = new Bwd{pd, dnnl::lbr_gru_backward(pd), pd.weights_layer_desc(), pd.weights_iter_desc(),
                pd.diff_weights_layer_desc(), pd.diff_weights_iter_desc(), pd.scratchpad_desc()};
  } else {
    auto act = k.kind == kRnnTanh ? dnnl::algorithm::eltwise_tanh : dnnl::algorithm::eltwise_relu;
    dnnl::vanilla_rnn_forward::primitive_desc hint(f->pd.get());
    dnnl::vanilla_rnn_backward::primitive_desc pd(Engine(), prop, act, Dir(k), d.src, d.it, d.wl,
                                                  d.wi, d.b, d.dst, d.it, d.src, d.it, d.wl,
                                                  d.wi, d.b, d.dst, d.it, 0.0f, hint, Attr());
    b = new Bwd{pd, dnnl::vanilla_rnn_backward(pd), pd.weights_layer_desc(),
                pd.weights_iter_desc(), pd.diff_weights_layer_desc(),
                pd.diff_weights_iter_desc(), pd.scratchpad_desc()};
  }
  cache[k].reset(b);
  return b;
}

// Per-thread buffers, grown as needed and kept: the scratchpad, the weights in the primitive's
// layout and the weight gradients before they go back to ldigo. Fresh multi-megabyte
// allocations per call would cost their page faults on every call. A thread runs one primitive
// at a time, so its buffers are never shared by two running primitives.
enum Slot { kScratch, kWeightsLayer, kWeightsIter, kDiffWeightsLayer, kDiffWeightsIter, kSlots };

memory ThreadBuffer(Slot slot, const memory::desc& desc) {
  struct Buffer {
    void* data = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer bufs[kSlots];
  Buffer& buf = bufs[slot];
  size_t need = desc.get_size();
  if (need > buf.size) {
    std::free(buf.data);
    buf.data = nullptr;
    buf.size = 0;
    size_t size = (need + 4095) / 4096 * 4096;
    buf.data = std::aligned_alloc(4096, size);
    if (buf.data == nullptr) throw std::bad_alloc();
    buf.size = size;
  }
  return memory(desc, Engine(), buf.data);
}

memory User(memory::dims d, tag t, const void* p) {
  return memory(D(d, t), Engine(), const_cast<void*>(p));
}

// `m` in the layout `want` (reordered into this thread's buffer `slot` when the layouts differ).
memory Into(memory m, const memory::desc& want, Slot slot, dnnl::stream& st) {
  if (m.get_desc() == want) return m;
  memory out = ThreadBuffer(slot, want);
  dnnl::reorder(m, out).execute(st, m, out);
  return out;
}

template <class B>
bool SizeIs(const B& buf, int64_t n) { return static_cast<int64_t>(buf.element_count()) == n; }

ffi::Error Bad(const std::string& what) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "seqjax oneDNN RNN: " + what);
}

// Shapes from x [T, N, I] and w_iter [H, G*H]; every other buffer is checked against them.
ffi::Error ShapesOf(int64_t kind, int64_t reverse, ffi::Buffer<ffi::F32>& x,
                    ffi::Buffer<ffi::F32>& wi, Key* k) {
  if (kind < 0 || kind > 3) return Bad("unknown cell kind " + std::to_string(kind));
  auto xd = x.dimensions();
  auto wd = wi.dimensions();
  if (xd.size() != 3 || wd.size() != 2) return Bad("x must be [T, N, I] and w_iter [H, G*H]");
  *k = Key{kind, reverse ? 1 : 0, xd[0], xd[1], xd[2], wd[0]};
  if (k->T <= 0 || k->N <= 0 || k->I <= 0 || k->H <= 0) return Bad("empty dimension");
  if (wd[1] != Gates(kind) * k->H) return Bad("w_iter has the wrong number of gates");
  return ffi::Error::Success();
}

ffi::Error CheckInputs(const Key& k, ffi::Buffer<ffi::F32>& h0, ffi::Buffer<ffi::F32>& c0,
                       ffi::Buffer<ffi::F32>& wl, ffi::Buffer<ffi::F32>& b) {
  int64_t nh = k.N * k.H;
  if (!SizeIs(h0, nh) || !SizeIs(c0, nh)) return Bad("h0/c0 must be [N, H]");
  if (!SizeIs(wl, k.I * Gates(k.kind) * k.H)) return Bad("w_layer must be [I, G*H]");
  if (!SizeIs(b, BiasGates(k.kind) * k.H)) return Bad("bias has the wrong size");
  return ffi::Error::Success();
}

// One thread that runs every oneDNN primitive of the process. oneDNN's CPU runtime here is GNU
// OpenMP, which gives each thread that opens a parallel region a pool of workers of its own.
// XLA calls a handler from whichever of its threads is free, so a process used to collect one
// pool per calling thread; libgomp then counts more threads than CPUs and cuts its spin-wait
// to 100 iterations, so between oneDNN's many short parallel regions (a few per time step) the
// workers went to sleep and each wake-up was a futex round trip: on 2 cores the RNN kept only
// 1.1-1.5 of them busy. Calls queue here, run one at a time (each uses every core), and the
// caller waits for its result. Defensive, not tested (JAX itself does not support fork): a
// forked child, which fork gave no copy of the thread, makes its own rather than wait forever.
class Executor {
 public:
  static Executor& Get() {
    static std::mutex mu;
    static Executor* current = nullptr;
    std::lock_guard<std::mutex> lock(mu);
    if (current == nullptr || current->pid_ != getpid()) current = new Executor();
    return *current;
  }

  ffi::Error Run(const std::function<ffi::Error()>& body) {
    if (std::this_thread::get_id() == id_) return body();
    Task task{&body};
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(&task);
    }
    cv_.notify_one();
    std::unique_lock<std::mutex> lock(task.mu);
    task.cv.wait(lock, [&] { return task.done; });
    return task.result;
  }

 private:
  struct Task {
    const std::function<ffi::Error()>* body;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ffi::Error result;
  };

  Executor() : pid_(getpid()) {
    std::thread worker([this] { Loop(); });
    id_ = worker.get_id();
    worker.detach();  // lives as long as the process; never destroyed
  }

  void Loop() {
    for (;;) {
      Task* task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        task = queue_.front();
        queue_.pop_front();
      }
      ffi::Error result = (*task->body)();
      {
        std::lock_guard<std::mutex> lock(task->mu);
        task->result = std::move(result);
        task->done = true;
      }
      task->cv.notify_one();
    }
  }

  pid_t pid_;
  std::thread::id id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task*> queue_;
};

bool OnCallerThread() {
  static const bool caller = [] {
    const char* v = std::getenv("SEQJAX_ONEDNN_CALLER_THREAD");
    return v != nullptr && std::string(v) == "1";
  }();
  return caller;
}

// Runs a handler's body on the executor's thread (or the caller's, see above), turning oneDNN's
// exceptions and allocation failures into FFI errors.
template <class Body>
ffi::Error Guarded(Body body) {
  std::function<ffi::Error()> run = [&]() -> ffi::Error {
    try {
      return body();
    } catch (const dnnl::error& e) {
      return ffi::Error(ffi::ErrorCode::kInternal, std::string("oneDNN: ") + e.what());
    } catch (const std::bad_alloc&) {
      return ffi::Error(ffi::ErrorCode::kResourceExhausted, "seqjax oneDNN RNN: out of memory");
    } catch (const std::exception& e) {
      return ffi::Error(ffi::ErrorCode::kInternal, std::string("seqjax oneDNN RNN: ") + e.what());
    }
  };
  if (OnCallerThread()) return run();
  return Executor::Get().Run(run);
}

}  // namespace

extern "C" int64_t seqjax_onednn_rnn_workspace_bytes(int64_t kind, int64_t reverse, int64_t T,
                                                     int64_t N, int64_t I, int64_t H) {
  try {
    return static_cast<int64_t>(GetFwd(Key{kind, reverse ? 1 : 0, T, N, I, H}, true)->ws.get_size());
  } catch (const std::exception&) {
    return -1;
  }
}

extern "C" const char* seqjax_onednn_version() {
  static std::string v;
  const dnnl_version_t* ver = dnnl_version();
  v = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." +
      std::to_string(ver->patch) + " (" + ver->hash + ")";
  return v.c_str();
}

static ffi::Error RnnFwdImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> h0,
                             ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::F32> w_layer,
                             ffi::Buffer<ffi::F32> w_iter, ffi::Buffer<ffi::F32> bias,
                             ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> hT,
                             ffi::ResultBuffer<ffi::F32> cT, ffi::ResultBuffer<ffi::U8> ws,
                             int64_t kind, bool reverse, bool training) {
  Key k;
  if (auto e = ShapesOf(kind, reverse, x, w_iter, &k); e.failure()) return e;
  if (auto e = CheckInputs(k, h0, c0, w_layer, bias); e.failure()) return e;
  if (!SizeIs(*y, k.T * k.N * k.H) || !SizeIs(*hT, k.N * k.H) || !SizeIs(*cT, k.N * k.H))
    return Bad("output buffers have the wrong size");
  return Guarded([&]() -> ffi::Error {
    Fwd* f = GetFwd(k, training);
    if (training && static_cast<int64_t>(ws->element_count()) <
                        static_cast<int64_t>(f->ws.get_size()))
      return Bad("workspace buffer smaller than the primitive needs");
    dnnl::stream st(Engine());
    const int64_t G = Gates(k.kind);
    memory wl = Into(User({1, 1, k.I, G, k.H}, tag::ldigo, w_layer.typed_data()), f->wl,
                     kWeightsLayer, st);
    memory wi = Into(User({1, 1, k.H, G, k.H}, tag::ldigo, w_iter.typed_data()), f->wi,
                     kWeightsIter, st);
    memory scratch = ThreadBuffer(kScratch, f->scratch);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, User({k.T, k.N, k.I}, tag::tnc, x.typed_data())},
        {DNNL_ARG_SRC_ITER, User({1, 1, k.N, k.H}, tag::ldnc, h0.typed_data())},
        {DNNL_ARG_WEIGHTS_LAYER, wl},
        {DNNL_ARG_WEIGHTS_ITER, wi},
        {DNNL_ARG_BIAS, User({1, 1, BiasGates(k.kind), k.H}, tag::ldgo, bias.typed_data())},
        {DNNL_ARG_DST_LAYER, User({k.T, k.N, k.H}, tag::tnc, y->typed_data())},
        {DNNL_ARG_DST_ITER, User({1, 1, k.N, k.H}, tag::ldnc, hT->typed_data())},
        {DNNL_ARG_SCRATCHPAD, scratch}};
    if (k.kind == kLstm) {
      args[DNNL_ARG_SRC_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, c0.typed_data());
      args[DNNL_ARG_DST_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, cT->typed_data());
    } else {
      std::memset(cT->typed_data(), 0, sizeof(float) * k.N * k.H);
    }
    if (training) args[DNNL_ARG_WORKSPACE] = memory(f->ws, Engine(), ws->typed_data());
    f->prim.execute(st, args);
    st.wait();
    return ffi::Error::Success();
  });
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(SeqjaxOnednnRnnFwd, RnnFwdImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::U8>>()
                                  .Attr<int64_t>("kind")
                                  .Attr<bool>("reverse")
                                  .Attr<bool>("training"));

static ffi::Error RnnBwdImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> h0,
                             ffi::Buffer<ffi::F32> c0, ffi::Buffer<ffi::F32> w_layer,
                             ffi::Buffer<ffi::F32> w_iter, ffi::Buffer<ffi::F32> bias,
                             ffi::Buffer<ffi::F32> y, ffi::Buffer<ffi::F32> hT,
                             ffi::Buffer<ffi::F32> cT, ffi::Buffer<ffi::U8> ws,
                             ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> dhT,
                             ffi::Buffer<ffi::F32> dcT, ffi::ResultBuffer<ffi::F32> dx,
                             ffi::ResultBuffer<ffi::F32> dh0, ffi::ResultBuffer<ffi::F32> dc0,
                             ffi::ResultBuffer<ffi::F32> dw_layer,
                             ffi::ResultBuffer<ffi::F32> dw_iter,
                             ffi::ResultBuffer<ffi::F32> dbias, int64_t kind, bool reverse) {
  Key k;
  if (auto e = ShapesOf(kind, reverse, x, w_iter, &k); e.failure()) return e;
  if (auto e = CheckInputs(k, h0, c0, w_layer, bias); e.failure()) return e;
  const int64_t G = Gates(k.kind), nh = k.N * k.H;
  if (!SizeIs(y, k.T * nh) || !SizeIs(hT, nh) || !SizeIs(cT, nh) || !SizeIs(dy, k.T * nh) ||
      !SizeIs(dhT, nh) || !SizeIs(dcT, nh) || !SizeIs(*dx, k.T * k.N * k.I) ||
      !SizeIs(*dh0, nh) || !SizeIs(*dc0, nh) || !SizeIs(*dw_layer, k.I * G * k.H) ||
      !SizeIs(*dw_iter, k.H * G * k.H) || !SizeIs(*dbias, BiasGates(k.kind) * k.H))
    return Bad("backward buffers have the wrong size");
  return Guarded([&]() -> ffi::Error {
    Bwd* b = GetBwd(k);
    Fwd* f = GetFwd(k, true);
    if (static_cast<int64_t>(ws.element_count()) != static_cast<int64_t>(f->ws.get_size()))
      return Bad("workspace buffer does not match the forward primitive's");
    dnnl::stream st(Engine());
    memory wl = Into(User({1, 1, k.I, G, k.H}, tag::ldigo, w_layer.typed_data()), b->wl,
                     kWeightsLayer, st);
    memory wi = Into(User({1, 1, k.H, G, k.H}, tag::ldigo, w_iter.typed_data()), b->wi,
                     kWeightsIter, st);
    memory dwl_user = User({1, 1, k.I, G, k.H}, tag::ldigo, dw_layer->typed_data());
    memory dwi_user = User({1, 1, k.H, G, k.H}, tag::ldigo, dw_iter->typed_data());
    memory dwl = dwl_user.get_desc() == b->dwl ? dwl_user
                                                : ThreadBuffer(kDiffWeightsLayer, b->dwl);
    memory dwi = dwi_user.get_desc() == b->dwi ? dwi_user
                                                : ThreadBuffer(kDiffWeightsIter, b->dwi);
    memory db = User({1, 1, BiasGates(k.kind), k.H}, tag::ldgo, dbias->typed_data());
    // oneDNN accumulates into the weight gradients
    std::memset(dwl.get_data_handle(), 0, b->dwl.get_size());
    std::memset(dwi.get_data_handle(), 0, b->dwi.get_size());
    std::memset(db.get_data_handle(), 0, sizeof(float) * BiasGates(k.kind) * k.H);
    memory scratch = ThreadBuffer(kScratch, b->scratch);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC_LAYER, User({k.T, k.N, k.I}, tag::tnc, x.typed_data())},
        {DNNL_ARG_SRC_ITER, User({1, 1, k.N, k.H}, tag::ldnc, h0.typed_data())},
        {DNNL_ARG_WEIGHTS_LAYER, wl},
        {DNNL_ARG_WEIGHTS_ITER, wi},
        {DNNL_ARG_BIAS, User({1, 1, BiasGates(k.kind), k.H}, tag::ldgo, bias.typed_data())},
        {DNNL_ARG_DST_LAYER, User({k.T, k.N, k.H}, tag::tnc, y.typed_data())},
        {DNNL_ARG_DST_ITER, User({1, 1, k.N, k.H}, tag::ldnc, hT.typed_data())},
        {DNNL_ARG_WORKSPACE, memory(f->ws, Engine(), ws.typed_data())},
        {DNNL_ARG_DIFF_DST_LAYER, User({k.T, k.N, k.H}, tag::tnc, dy.typed_data())},
        {DNNL_ARG_DIFF_DST_ITER, User({1, 1, k.N, k.H}, tag::ldnc, dhT.typed_data())},
        {DNNL_ARG_DIFF_SRC_LAYER, User({k.T, k.N, k.I}, tag::tnc, dx->typed_data())},
        {DNNL_ARG_DIFF_SRC_ITER, User({1, 1, k.N, k.H}, tag::ldnc, dh0->typed_data())},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, dwi},
        {DNNL_ARG_DIFF_BIAS, db},
        {DNNL_ARG_SCRATCHPAD, scratch}};
    if (k.kind == kLstm) {
      args[DNNL_ARG_SRC_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, c0.typed_data());
      args[DNNL_ARG_DST_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, cT.typed_data());
      args[DNNL_ARG_DIFF_DST_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, dcT.typed_data());
      args[DNNL_ARG_DIFF_SRC_ITER_C] = User({1, 1, k.N, k.H}, tag::ldnc, dc0->typed_data());
    } else {
      std::memset(dc0->typed_data(), 0, sizeof(float) * nh);
    }
    b->prim.execute(st, args);
    if (dwl != dwl_user) dnnl::reorder(dwl, dwl_user).execute(st, dwl, dwl_user);
    if (dwi != dwi_user) dnnl::reorder(dwi, dwi_user).execute(st, dwi, dwi_user);
    st.wait();
    return ffi::Error::Success();
  });
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(SeqjaxOnednnRnnBwd, RnnBwdImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::U8>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("kind")
                                  .Attr<bool>("reverse"));
