# syntax=docker/dockerfile:1
# One image for every service of docker-compose.yml (the API and each worker differ only in
# their command and settings), for linux/amd64 and linux/arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t flashcall:0.2.0 .
# Layers, from the least to the most often changed: the base, the dependencies (from the lock,
# hashes checked), the browser assets, then the code; a code change rebuilds only the last.
# Base images are pinned to exact versions (docs/operations.md says how to move them).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# The dependencies, into a virtual environment the final stage copies whole. faust-streaming
# has no linux/arm64 wheel: there it is built from its sdist, hence the compiler in this stage
# only (docs/dependencies.md).
FROM ${PYTHON_IMAGE} AS dependencies
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/flashcall
COPY requirements/runtime.txt /tmp/runtime.txt
RUN /opt/flashcall/bin/pip install --no-cache-dir --require-hashes -r /tmp/runtime.txt

# The panel's chart, date picker and font and Swagger UI, from the npm registry, pinned by
# version and sha512 (the standard library fetches them: no Node.js here).
FROM ${PYTHON_IMAGE} AS assets
COPY launch/fetch_assets.py /tmp/fetch_assets.py
RUN python /tmp/fetch_assets.py panel /assets/panel \
    && python /tmp/fetch_assets.py docs /assets/docs

# The project itself, built into a wheel (only what the wheel holds reaches the image).
FROM dependencies AS build
WORKDIR /src
COPY pyproject.toml LICENSE ./
COPY api api
COPY core core
COPY launch launch
COPY processors processors
COPY producers producers
COPY projections projections
COPY runtime runtime
COPY front_door front_door
COPY schemas schemas
COPY --from=assets /assets/panel api/panel/static/vendor
COPY --from=assets /assets/docs api/docs_assets/vendor
RUN /opt/flashcall/bin/pip wheel --no-cache-dir --no-deps -w /wheels .

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 flashcall \
    && useradd --system --uid 10001 --gid flashcall --home-dir /var/lib/flashcall \
       --create-home flashcall
COPY --from=dependencies /opt/flashcall /opt/flashcall
COPY --from=build /wheels /wheels
RUN /opt/flashcall/bin/pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
ENV PATH=/opt/flashcall/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASHCALL_HTTP_HOST=0.0.0.0
WORKDIR /var/lib/flashcall
USER 10001:10001
EXPOSE 8000 9100
CMD ["python", "-m", "api"]
