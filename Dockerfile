# The panel's chart library and font, from the npm registry at build time.
FROM node:20-slim AS panel-assets
COPY api/panel/fetch_assets.sh /fetch_assets.sh
RUN bash /fetch_assets.sh /vendor

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY core core
COPY launch launch
COPY processors processors
COPY producers producers
COPY projections projections
COPY schemas schemas
COPY --from=panel-assets /vendor api/panel/static/vendor
RUN pip install --no-cache-dir .
ENV FLASHCALL_HTTP_HOST=0.0.0.0
USER nobody
CMD ["python", "-m", "api"]
