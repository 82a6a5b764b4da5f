#!/usr/bin/env bash
# Applies (or deletes) one folder of deploy/k8s with the volo image of your choice.
# usage: deploy/k8s/apply.sh FOLDER [IMAGE] [--delete] [kubectl flags, e.g. -n NAMESPACE]
#   deploy/k8s/apply.sh exercise-5                         # image volo:latest
#   deploy/k8s/apply.sh exercise-5 registry.example.com/volo:0.1.0 -n volo
#   deploy/k8s/apply.sh exercise-5 --delete
# Env: KUBECTL (default kubectl; e.g. "minikube kubectl --").
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
for f in "$folder"/*.yaml; do
  printf -- '---\n'
  sed "s#image: volo:latest#image: ${image}#" "$f"
done | "${kubectl[@]}" "$verb" "$@" -f -
