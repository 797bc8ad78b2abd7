#!/usr/bin/env bash
# Fills .whl/ with the wheels that the workplace's lent GPU machines lack (their python3 3.12 holds torch,
# lightning, timm, torchmetrics, numpy, scipy, pillow, opencv, rich, pytest, ... but no package index):
# the versions this project's .venv was tested with, for CPython 3.12 on manylinux x86-64. `make gpu-wheels`.
# DeepSpeed publishes no wheel; it is pure Python until an op is built, so pip builds one here.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
PACKAGES="albumentations albucore simsimd stringzilla pydantic pydantic-core annotated-types typing-inspection
typing-extensions pycocotools jsonargparse docstring-parser typeshed-client hjson"
pinned() { for name in "$@"; do echo "$name==$("$PY" -m pip show "$name" | sed -n 's/^Version: //p')"; done; }
rm -rf .whl && mkdir -p .whl
platforms=()
for tag in manylinux_2_17 manylinux_2_24 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
    platforms+=(--platform "${tag}_x86_64")
done
# shellcheck disable=SC2046  # one word per package
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl $(pinned $PACKAGES)
"$PY" -m pip wheel -q --no-deps -w .whl "$(pinned deepspeed)"
du -sh .whl
