#!/usr/bin/env bash
# Applies (or deletes) one folder of deploy/k8s with the volo image of your choice.
# usage: deploy/k8s/apply.sh FOLDER [IMAGE] [--delete] [kubectl flags, e.g. -n NAMESPACE]
#   deploy/k8s/apply.sh exercise-5                         # image volo:latest
#   deploy/k8s/apply.sh exercise-5 registry.example.com/volo:0.1.0 -n volo
#   deploy/k8s/apply.sh exercise-5 --delete
# Env: KUBECTL (default kubectl; e.g. "minikube kubectl --").
# Before applying, it creates the Secret volo-tokens (keys api-token, join-token: random tokens)
# in the target namespace unless it exists; the planner and workers read their tokens from it.
# An existing Secret is never changed (running planners keep the tokens they started with), and
# --delete leaves it: `kubectl delete secret volo-tokens` removes it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 1 ]] || { sed -n '3,7p' "$0" >&2; exit 2; }
folder="$here/${1%/}"
shift
[[ -d "$folder" ]] || { echo "apply.sh: no folder $folder (one of: $(cd "$here" && ls -d -- */ | tr -d / | tr '\n' ' '))" >&2; exit 2; }
image=volo:latest
if [[ $# -gt 0 && "$1" != -* ]]; then
  image=$1
  shift
fi
verb=apply
if [[ $# -gt 0 && "$1" == --delete ]]; then
  verb=delete
  shift
fi
read -r -a kubectl <<<"${KUBECTL:-kubectl}"

# The kubectl flags that say where the Secret goes (namespace, context, kubeconfig); the others
# (--dry-run, --server-side, ...) are for `kubectl apply` only.
target=()
dry_run=false
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a=${args[i]}
  case $a in
    -n | --namespace | --context | --kubeconfig | --cluster | --user)
      target+=("$a" "${args[i + 1]:-}")
      i=$((i + 1))
      ;;
    -n?* | --namespace=* | --context=* | --kubeconfig=* | --cluster=* | --user=*) target+=("$a") ;;
    --dry-run*) dry_run=true ;;
  esac
done

# A random token of 43 URL-safe characters (256 bits).
token() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

if [[ $verb == apply ]]; then
  if "${kubectl[@]}" get secret volo-tokens "${target[@]}" >/dev/null 2>&1; then
    echo "apply.sh: using the existing Secret volo-tokens" >&2
  elif $dry_run; then
    echo "apply.sh: would create the Secret volo-tokens (api-token, join-token)" >&2
  else
    "${kubectl[@]}" create secret generic volo-tokens "${target[@]}" \
      --from-literal=api-token="$(token)" --from-literal=join-token="$(token)" >/dev/null
    echo "apply.sh: created the Secret volo-tokens; the API token for volo submit and the REST API:" >&2
    echo "  ${kubectl[*]} get secret volo-tokens ${target[*]} -o jsonpath='{.data.api-token}' | base64 -d" >&2
  fi
fi

for f in "$folder"/*.yaml; do
  printf -- '---\n'
  sed "s#image: volo:latest#image: ${image}#" "$f"
done | "${kubectl[@]}" "$verb" "$@" -f -
