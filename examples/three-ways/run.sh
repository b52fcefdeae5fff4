#!/usr/bin/env bash
# The seed's three ways to reach auth, shown live: a client deployment per way (Pod IP
# hard-coded, ClusterIP hard-coded, Service DNS), checked at the start, after
# `kubectl rollout restart deployment/auth` and after the auth Service is recreated.
# Needs the examples applied first: kubectl apply -f examples/
set -euo pipefail
cd "$(dirname "$0")"

pod_ip=$(kubectl get pods -l app=auth -o jsonpath='{.items[0].status.podIP}')
cluster_ip=$(kubectl get service auth-service -o jsonpath='{.spec.clusterIP}')
echo "auth: a pod at $pod_ip, auth-service at $cluster_ip"
sed "s/AUTH_POD_IP/$pod_ip/" client-podip.yaml | kubectl apply -f -
sed "s/AUTH_CLUSTER_IP/$cluster_ip/" client-clusterip.yaml | kubectl apply -f -
kubectl apply -f client-dns.yaml
for way in podip clusterip dns; do
  kubectl rollout status "deployment/client-$way" --timeout=60s >/dev/null
done

# One line of the table: does each client reach auth now? (five tries, a second apart,
# before "FAIL")
check() {
  local line
  line=$(printf '%-24s' "$1")
  for way in podip clusterip dns; do
    result=FAIL
    for _ in 1 2 3 4 5; do
      answer=$(kubectl exec "deployment/client-$way" -- curl -s -m 5 localhost:9000/check 2>&1 || true)
      if [[ $answer == *'"ok":true'* ]]; then
        result=ok
        break
      fi
      sleep 1
    done
    # Why it failed, on stderr: the client's own words.
    [ "$result" = ok ] || echo "  client-$way: $answer" >&2
    line+=$(printf '%-11s' "$result")
  done
  echo "$line"
}

ready_endpoints() {
  kubectl get endpoints auth-service -o jsonpath='{.subsets[*].addresses[*].ip}' | wc -w
}

# Every client has reached auth once before the table starts (each calls auth once a second
# from its start, so a client that just started has nothing to report yet).
for way in podip clusterip dns; do
  for _ in $(seq 60); do
    kubectl exec "deployment/client-$way" -- curl -s -m 5 localhost:9000/check 2>/dev/null \
      | grep -q '"ok":true' && break
    sleep 1
  done
done

printf '%-24s%-11s%-11s%-11s\n' "" "pod-ip" "cluster-ip" "dns"
check "at the start"
kubectl rollout restart deployment/auth >/dev/null
kubectl rollout status deployment/auth --timeout=60s >/dev/null
# The rollout is done when the new pods are available; the old ones may still be finishing
# their shutdown. Wait until the pod whose IP was written in is gone.
while kubectl get pods -o jsonpath='{.items[*].status.podIP}' | tr ' ' '\n' | grep -qx "$pod_ip"; do
  sleep 0.2
done
check "after rollout restart"
kubectl delete service auth-service >/dev/null
kubectl apply -f ../auth-service.yaml >/dev/null
until [ "$(ready_endpoints)" -gt 0 ]; do sleep 0.2; done
echo "auth-service is now at $(kubectl get service auth-service -o jsonpath='{.spec.clusterIP}')" >&2
check "after Service recreate"
