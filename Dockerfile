# The demo app (function_app/) with func-py built from this checkout: the same image
# `func-py init --docker-only` describes, plus a first stage that builds func-py's wheel.
#   docker build -t func-py-demo .        (podman: add --format docker to keep the HEALTHCHECK)
#   docker run -p 8080:8080 -e FUNCPY_MASTER_KEY=<key> \
#       -v func-py-demo-data:/home/site/wwwroot/.func-py func-py-demo
# Two replicas on PostgreSQL: compose.yaml.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY host host
COPY triggers triggers
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=wheel /wheels /tmp/build/
RUN python -m venv /opt/venv \
 && set -- /tmp/build/func_py-*.whl \
 && pip install "$1[postgres]" \
 && rm -rf /tmp/build

RUN groupadd --gid 1000 app \
 && useradd --uid 1000 --gid app --no-create-home --home-dir /home/site \
    --shell /usr/sbin/nologin app
WORKDIR /home/site/wwwroot
COPY host.json ./
COPY function_app function_app
# The only folder the app user may write: the embedded task hub and timer status.
RUN mkdir -p /home/site/wwwroot/.func-py && chown app:app /home/site/wwwroot/.func-py

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    PORT=8080 \
    STOCK_MONITOR_INTERVAL_SECONDS=1 \
    STOCK_MONITOR_MAX_CHECKS=10
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/runtime/health/ready' % os.environ.get('PORT', '8080'), timeout=2)"]
# SIGTERM drains: no new requests or durable work, in-flight work finishes, claims released.
STOPSIGNAL SIGTERM
CMD ["func-py", "start", "--production"]
