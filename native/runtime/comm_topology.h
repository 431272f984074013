// runtime/comm_topology.h: which ranks of an NCCL comm share a machine, and the hierarchical form
// that follows from it (runtime/comm_nccl.h). Ranks on one machine ("node") meet in shared memory;
// between nodes only one rank per token shard talks to each other node, so NCCL carries 1/L of
// what the flat all-gather carries (L ranks a node).
//
// The hierarchical call, on rank (node n, local l) of N nodes × L ranks, T tokens:
//   1. node exchange: every rank's x into the node's shared memory; rank l copies token shard l
//      (ShardBegin(T, l, L) ..< ShardBegin(T, l + 1, L)) of its L node peers' x → send [L][rows][H];
//   2. NCCL all-gather of send among the ranks with local index l (one per node; ncclCommSplit by
//      color l, key n) → recv [N][L][rows][H]: shard l of every rank of the comm;
//   3. node exchange of recv: every rank copies shard j of every rank out of local rank j's recv
//      into staging [R][T][H], at the row of its global rank (RankOf);
//   4. the gathered comm kernel on staging — the same bits as every other transport, since it is the
//      same rank-order sum of the same rows.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "sparq/status.h"

namespace sparq::comm {

inline constexpr size_t kNodeKeyBytes = 16;
using NodeKey = std::array<uint8_t, kNodeKeyBytes>;

// This machine as far as shared memory goes: hostname, boot id and the identity of /dev/shm (two
// containers of one host with private /dev/shm mounts are two nodes: they cannot meet in it).
std::string DetectNode();
// A 16-byte digest of a node name (two FNV-1a-64 lanes): what the ranks exchange.
NodeKey NodeKeyOf(const std::string& node);

struct NcclTopology {
  int ranks = 1, nodes = 1, local_size = 1;  // R = nodes · local_size when hierarchical
  int node = 0, local = 0;                    // this rank's place
  // Hierarchical: at least 2 nodes, every node the same number (≥ 2) of ranks. Otherwise the comm
  // stays flat (one NCCL all-gather of every rank's x), which is right for any layout.
  bool hierarchical = false;
  std::vector<int> rank_of;                   // [node · local_size + local] → global rank
  int RankOf(int node_index, int local_index) const { return rank_of[size_t(node_index * local_size + local_index)]; }
};

// From every rank's key (by global rank): nodes are numbered by their lowest global rank, local
// indices by global rank within a node. Pure; every rank computes the same plan.
NcclTopology PlanTopology(const std::vector<NodeKey>& keys, int rank);

// Token shard j of L covers [ShardBegin(T, j, L), ShardBegin(T, j + 1, L)): sizes differ by at most
// one, and every rank of a comm computes the same bounds.
inline int64_t ShardBegin(int64_t tokens, int shard, int shards) { return tokens * shard / shards; }

// The node's shared-memory slot: large enough for x (maxBytes) and for recv, N · L · ⌈T/L⌉ rows ≤
// N · T + R rows, i.e. N · maxBytes + R rows of at most min(maxBytes, 2 · kMaxHidden) bytes.
uint64_t NodeSlotBytes(uint64_t max_bytes, const NcclTopology& t);

// The id of the node's shared-memory comm (runtime/shm_comm.h): its name from the NCCL unique id
// and the node key (so the comm's ranks of one node, and only they, meet), its slot NodeSlotBytes.
std::vector<uint8_t> NodeCommId(const uint8_t* nccl_unique_id, size_t id_bytes, const NodeKey& node, uint64_t slot_bytes);

}  // namespace sparq::comm
