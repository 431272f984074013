// runtime/comm_topology.cc: see comm_topology.h.
#include "runtime/comm_topology.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "runtime/shm_comm.h"
#include "sparq/allreduce.h"

namespace sparq::comm {

std::string DetectNode() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  std::string boot;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::getline(f, boot);
  struct stat st {};
  const bool shm = ::stat("/dev/shm", &st) == 0;
  return std::string(host) + "|" + boot + "|" + (shm ? std::to_string(uint64_t(st.st_dev)) + ":" + std::to_string(uint64_t(st.st_ino)) : "-");
}

NodeKey NodeKeyOf(const std::string& node) {
  // Two FNV-1a-64 lanes with different offsets: not cryptographic, only distinct for distinct names
  // with overwhelming odds (2^-128 per pair of nodes).
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  for (unsigned char c : node) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ uint8_t(c + 0x5b)) * 0x100000001b3ULL;
  }
  NodeKey k{};
  std::memcpy(k.data(), &a, 8);
  std::memcpy(k.data() + 8, &b, 8);
  return k;
}

NcclTopology PlanTopology(const std::vector<NodeKey>& keys, int rank) {
  NcclTopology t;
  t.ranks = int(keys.size());
  std::vector<NodeKey> nodes;                 // by lowest global rank
  std::vector<std::vector<int>> members;      // global ranks of each node, ascending
  for (int r = 0; r < t.ranks; ++r) {
    const auto it = std::find(nodes.begin(), nodes.end(), keys[size_t(r)]);
    const size_t n = size_t(it - nodes.begin());
    if (it == nodes.end()) {
      nodes.push_back(keys[size_t(r)]);
      members.emplace_back();
    }
    members[n].push_back(r);
  }
  t.nodes = int(nodes.size());
  t.local_size = int(members[0].size());
  bool even = true;
  for (const auto& m : members) even = even && int(m.size()) == t.local_size;
  t.hierarchical = t.nodes >= 2 && t.local_size >= 2 && even;
  if (!t.hierarchical) {
    // flat: one "node" of every rank, in rank order
    t.nodes = 1;
    t.local_size = t.ranks;
    t.node = 0;
    t.local = rank;
    t.rank_of.resize(size_t(t.ranks));
    for (int r = 0; r < t.ranks; ++r) t.rank_of[size_t(r)] = r;
    return t;
  }
  t.rank_of.resize(size_t(t.ranks));
  for (int n = 0; n < t.nodes; ++n)
    for (int l = 0; l < t.local_size; ++l) {
      const int g = members[size_t(n)][size_t(l)];
      t.rank_of[size_t(n * t.local_size + l)] = g;
      if (g == rank) {
        t.node = n;
        t.local = l;
      }
    }
  return t;
}

uint64_t NodeSlotBytes(uint64_t max_bytes, const NcclTopology& t) {
  const uint64_t row_bytes = std::min<uint64_t>(max_bytes, uint64_t(2 * allreduce::kMaxHidden));
  return std::max<uint64_t>(max_bytes, uint64_t(t.nodes) * max_bytes + uint64_t(t.ranks) * row_bytes);
}

std::vector<uint8_t> NodeCommId(const uint8_t* nccl_unique_id, size_t id_bytes, const NodeKey& node, uint64_t slot_bytes) {
  // A fresh id with the name replaced: 16 bytes derived from the NCCL unique id (random per comm)
  // and the node, so two comms, or two nodes of one comm, never share a segment.
  std::vector<uint8_t> id = NewId(slot_bytes);
  std::string seed(reinterpret_cast<const char*>(nccl_unique_id), id_bytes);
  seed.append(reinterpret_cast<const char*>(node.data()), node.size());
  const NodeKey name = NodeKeyOf(seed);
  std::memcpy(id.data() + 4, name.data(), name.size());
  return id;
}

}  // namespace sparq::comm
