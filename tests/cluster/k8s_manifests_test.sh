#!/usr/bin/env bash
# deploy/k8s validated offline: every manifest against the Kubernetes JSON schemas (strict: unknown
# fields are errors) with kubeconform, both from the deps cache (scripts/bootstrap step 7); then the
# pieces a deployment needs must all be there, with the probes on /health and /ready.
set -euo pipefail
KC_DIR=$1 K8S_DIR=$2
version=$(cat "$KC_DIR/k8s-version")
out=$("$KC_DIR/kubeconform" -strict -summary -output json -kubernetes-version "$version" \
  -schema-location "$KC_DIR/schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -skip Kustomization "$K8S_DIR"/*.yaml) || { echo "$out"; exit 1; }
echo "$out" | grep -q '"invalid": 0' && echo "$out" | grep -q '"errors": 0' || { echo "$out"; exit 1; }
for kind in Deployment Service ConfigMap Secret PersistentVolumeClaim PodDisruptionBudget HorizontalPodAutoscaler; do
  grep -qx "kind: $kind" "$K8S_DIR"/*.yaml || { echo "no $kind in $K8S_DIR"; exit 1; }
done
grep -q 'path: /health' "$K8S_DIR/deployment.yaml" && grep -q 'path: /ready' "$K8S_DIR/deployment.yaml" \
  || { echo "probes must use /health and /ready"; exit 1; }
echo "kubeconform: $(echo "$out" | tr -d '\n' | sed 's/.*"summary"/"summary"/')"
