# The operator image: a small non-root Python runtime with the package installed, read-only root filesystem friendly.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# A fixed, unprivileged uid so the Deployment's runAsNonRoot check passes without a name lookup.
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["snyk-broker-operator"]
CMD ["run", "--all-namespaces", "--liveness", "http://0.0.0.0:8080/healthz"]
