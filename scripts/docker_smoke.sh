#!/usr/bin/env bash
# Release check of the Docker image, run before each release (tests/test_docker_image.py runs it with
# LIMIT=2): starts the image with no network at all (--network none) on a fresh volume, waits until the
# service answers (the index is built at first start), POSTs a photo from inside the container, restarts
# it (warm: the index is reused) and prints the figures BENCHMARKS.md records.
#   IMAGE=photo2cad:latest LIMIT=2 scripts/docker_smoke.sh    # LIMIT: index only the first N models
set -euo pipefail
IMAGE=${IMAGE:-photo2cad:latest}
LIMIT=${LIMIT:-}
read -r -a extra <<< "${DOCKER_RUN_ARGS:-}"  # more `docker run` options, e.g. -e PHOTO2CAD_RENDER_WORKERS=1
name=photo2cad-smoke-$$
volume=$name

cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; docker volume rm "$volume" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The service's own check, from inside (no network: the host cannot reach the container's port).
healthy() { docker exec "$name" python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)" 2>/dev/null; }

wait_healthy() {  # seconds since $1, once healthy; fails if the container stops
  while ! healthy; do
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || { docker logs --tail 30 "$name"; exit 1; }
    sleep 1
  done
  echo $(( $(date +%s) - $1 ))
}

command=(photo2cad serve --build-if-missing --host 0.0.0.0 --port 8000)  # the image's CMD
[ -n "$LIMIT" ] && command=(sh -c "photo2cad index build --limit $LIMIT && exec photo2cad serve --host 0.0.0.0 --port 8000")
docker volume create "$volume" >/dev/null
start=$(date +%s)
docker run -d --name "$name" --network none -v "$volume:/data" "${extra[@]}" "$IMAGE" "${command[@]}" >/dev/null
echo "cold_start_s=$(wait_healthy "$start")"

# A rendered view of the first indexed model stands in for a photo (a file of the index, so no network).
docker exec -i "$name" python3 - <<'EOF'
import json, pathlib, urllib.request, uuid
photo = next(pathlib.Path("/data").glob("*/views/*/*/*.jpg"))
boundary = uuid.uuid4().hex
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"photo.jpg\"\r\n"
        f"Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
request = urllib.request.Request("http://127.0.0.1:8000/api/search", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
answer = json.load(urllib.request.urlopen(request, timeout=120))
print(f"photo={photo.relative_to('/data')}")
print(f"results={len(answer['results'])} top_model={answer['results'][0]['model_id']} "
      f"top_kind={answer['categories'][0]['label']} polar_deg={answer['results'][0]['pose']['polar_deg']:.1f}")
EOF
start=$(date +%s)
docker restart "$name" >/dev/null
echo "warm_restart_s=$(wait_healthy "$start")"
echo "models=$(docker exec "$name" python3 -c "import json, urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:8000/api/health'))['index']['models'])")"
echo "image_bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE")"
