# Sourced by the flood benches: start_posters starts 4 clients that keep POSTing a 200 KB
# body of nested `[` to the API at $addr (with $ca and $token), adding their PIDs to pids.
# They run on core 1, the server and the samples on core 0: what is measured is the
# server's answer to the flood, not the scheduler sharing a core with curl's forks and TLS
# handshakes (unpinned, the clients take ~80% of both cores of a 2-core machine).
start_posters() {
  printf 'kind: ConfigMap\ndata: ' >"$work/nested.yaml"
  head -c 200000 /dev/zero | tr '\0' '[' >>"$work/nested.yaml"
  for _ in 1 2 3 4; do
    (taskset -pc 1 $BASHPID >/dev/null; while true; do
      curl -s -o /dev/null --cacert "$ca" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/yaml' --data-binary @"$work/nested.yaml" \
        "https://$addr/api/v1/namespaces/default/configmaps" || true
    done) &
    pids+=("$!")
  done
  sleep 1
}
