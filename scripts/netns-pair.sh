# Sourced by the capture scripts: two network namespaces joined by a veth pair, the way
# apitap's fixtures and benchmark captures are recorded. Needs root and iproute2.
#
#   netns_pair SERVER_NS CLIENT_NS PREFIX SERVER_IF CLIENT_IF
#   e.g. netns_pair apitap-fx-srv apitap-fx-cli 10.77.0 fx-srv fx-cli
#
# The server gets PREFIX.1, the client PREFIX.2. Segmentation offloads are turned off so
# captures show packets as on a real wire.
netns_pair() {
  local ns_s=$1 ns_c=$2 prefix=$3 if_s=$4 if_c=$5
  ip netns del "$ns_s" 2>/dev/null || true
  ip netns del "$ns_c" 2>/dev/null || true
  ip netns add "$ns_s"
  ip netns add "$ns_c"
  ip link add "$if_s" type veth peer name "$if_c"
  ip link set "$if_s" netns "$ns_s"
  ip link set "$if_c" netns "$ns_c"
  ip -n "$ns_s" addr add "$prefix.1/24" dev "$if_s"
  ip -n "$ns_c" addr add "$prefix.2/24" dev "$if_c"
  for ns in "$ns_s" "$ns_c"; do ip -n "$ns" link set lo up; done
  ip -n "$ns_s" link set "$if_s" up
  ip -n "$ns_c" link set "$if_c" up
  ip netns exec "$ns_s" ethtool -K "$if_s" tso off gso off gro off >/dev/null 2>&1 || true
  ip netns exec "$ns_c" ethtool -K "$if_c" tso off gso off gro off >/dev/null 2>&1 || true
}

netns_pair_del() {
  ip netns del "$1" 2>/dev/null || true
  ip netns del "$2" 2>/dev/null || true
}
