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
RUN pip install --no-cache-dir .
ENV FLASHCALL_HTTP_HOST=0.0.0.0
USER nobody
CMD ["python", "-m", "api"]
