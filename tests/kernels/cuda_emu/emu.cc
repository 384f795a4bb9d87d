// The emulation's runtime: kernel table and launches (see emu.h). Exposed to Python by ctypes.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"

thread_local TcDim tc_tid;
TcDim tc_bid, tc_bdim, tc_gdim;
TcBlock tc_blk;
std::mutex tc_atomic_mutex;

namespace {
struct Entry {
  void* fn;
  TcInvoker inv;
  int nargs;
};
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
}  // namespace

int tc_emu_register(const char* name, void* fn, TcInvoker inv, int nargs) {
  table()[name] = Entry{fn, inv, nargs};
  return 0;
}

// 0 ok, -1 unknown kernel, -2 wrong argument count, -3 bad launch shape.
extern "C" int tc_emu_launch(const char* name, long long gx, long long gy, long long gz, long long bx,
                             const uint64_t* slots, int nslots) {
  auto it = table().find(name);
  if (it == table().end()) return -1;
  if (it->second.nargs != nslots) return -2;
  if (bx < 1 || bx > 1024 || bx % 32 || gx < 1 || gy < 1 || gz < 1) return -3;
  tc_gdim = TcDim{gx, gy, gz};
  tc_bdim = TcDim{bx, 1, 1};
  const int nw = int(bx / 32);
  std::vector<double> slot_mem(size_t(bx), 0.0);
  for (long long z = 0; z < gz; ++z)
    for (long long y = 0; y < gy; ++y)
      for (long long x = 0; x < gx; ++x) {
        tc_bid = TcDim{x, y, z};
        std::barrier<> block(bx);
        std::vector<std::barrier<>*> warps;
        for (int w = 0; w < nw; ++w) warps.push_back(new std::barrier<>(32));
        tc_blk = TcBlock{&block, warps.data(), slot_mem.data()};
        std::vector<std::thread> threads;
        threads.reserve(size_t(bx));
        for (long long t = 0; t < bx; ++t)
          threads.emplace_back([&, t] {
            tc_tid = TcDim{t, 0, 0};
            it->second.inv(it->second.fn, slots);
          });
        for (auto& th : threads) th.join();
        for (auto* w : warps) delete w;
      }
  return 0;
}

extern "C" int tc_emu_count() { return int(table().size()); }
