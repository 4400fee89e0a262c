# syntax=docker/dockerfile:1
# The service as a container image: `docker build -t user-service .` (see "Containers" in the README).
# Stages: toolchain (manifests + compilers), build (all dependencies, esbuild bundle in dist/), prod-deps
# (production dependencies only), runtime (no compilers, no dev dependencies, runs as the `node` user).
# scripts/check-production-install.sh runs these same steps without a container engine in CI.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS toolchain
# better-sqlite3 12 (the SQLite driver kept for Node 20) downloads a prebuilt binary at install time and
# compiles from source when it cannot; on Node 22+ the service loads better-sqlite3 13, whose binaries ship in
# the package. The compilers stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/data/package.json packages/data/
COPY services/user-service/package.json services/user-service/

FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build -w services/user-service

FROM toolchain AS prod-deps
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/data/package.json packages/data/tsconfig.json packages/data/
COPY packages/data/src packages/data/src
COPY services/user-service/package.json services/user-service/tsconfig.json services/user-service/
# The server runs from dist/ (dist/migrations holds the compiled migrations); the CLI (`migrate up`,
# `create-user`, `keys rotate`, ...) runs bin/user-service.js, which loads src/ and migrations/ through tsx.
COPY services/user-service/bin services/user-service/bin
COPY services/user-service/src services/user-service/src
COPY services/user-service/migrations services/user-service/migrations
COPY --from=build /app/services/user-service/dist services/user-service/dist
# The default SQLite file (services/user-service/data/app.db) is the only thing the process writes.
RUN mkdir -p services/user-service/data && chown node:node services/user-service/data
USER node
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 8000}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# What `npm start` runs, without the build check: a smaller young generation (see the README).
CMD ["node", "--max-semi-space-size=2", "services/user-service/dist/main.js"]
